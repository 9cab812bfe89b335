# Every target sets itself up first (idempotent): Debian packages, .venv, the package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# libkrb5-dev and build-essential: code-server builds native modules (scripts/code_server.sh).
APT_PACKAGES := libportaudio2 libasound2-plugins flite pulseaudio pulseaudio-utils neovim chromium \
  libkrb5-dev build-essential
SETUP_STAMP := $(VENV)/.vivavoce-installed

.PHONY: setup system demo test test-python test-vscode agents-bundle check lint bench fuzz soak clean

setup: system $(SETUP_STAMP)

system:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(SETUP_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@$(BIN)/python -m compileall -q server/vivavoce >/dev/null  # start like an installed package
	@touch $@

demo: setup
	$(BIN)/vivavoce demo

# code-server (for the extension's test inside VS Code) installs in the background meanwhile:
# ≈ 3–5 min the first time, cached after (scripts/code_server.sh).
test: setup
	@scripts/code_server.sh --background
	$(MAKE) test-python
	$(MAKE) test-vscode

# The tests inside code-server: test-vscode runs them, test-python leaves them out.
CODE_SERVER_TESTS := tests/clients/test_vscode_in_code_server.py tests/clients/test_vscode_panel.py

test-python: setup
	$(BIN)/python -m pytest -q $(addprefix --ignore=,$(CODE_SERVER_TESTS))

# The VS Code extension: lint, its node tests against the real `vivavoce lsp`, then the .vsix
# inside a real VS Code (code-server in headless Chromium; waits for the install if it runs).
test-vscode: setup
	@command -v npm >/dev/null || { echo "test-vscode needs node 20 and npm"; exit 1; }
	cd clients/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run lint && \
	  VIVAVOCE_AUDIO_DEVICES=false VIVAVOCE_SERVER=$(CURDIR)/$(BIN)/vivavoce npm test
	@scripts/code_server.sh >/dev/null
	$(BIN)/python -m pytest -q $(CODE_SERVER_TESTS)

# The official @openai/agents-realtime client bundled for tests/web/test_agents_realtime.py (npm ci +
# esbuild, cached on the lockfile's hash). The test builds it itself; run this first when the tests
# run without the npm registry (e.g. inside `unshare -n`).
agents-bundle: setup
	@command -v npm >/dev/null || { echo "agents-bundle needs node and npm"; exit 1; }
	$(BIN)/python -m tests.web.agents_bundle

lint: setup
	$(BIN)/ruff check server tests benchmarks scripts
	$(BIN)/ruff format --check server tests benchmarks scripts
	$(BIN)/mypy

check: lint
	$(BIN)/python -m pytest -q -W error

bench: setup
	$(BIN)/python -m benchmarks.run

# Property-based fuzzing of LSP params, data-channel events and voice-tool calls, and of every way
# into the real servers: the peer's HTTP routes and a call's data channel, the LSP's framing over
# stdio and WebSocket: 10,000 cases each (≈ 1.5 h on 2 cores; a test may take minutes, so the
# per-test timeout is lifted).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q --timeout=3600 tests/fuzz

# 200 start/stop cycles and a 10-minute live call; fails if descriptors, threads, tasks or RSS grow.
soak: setup
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
