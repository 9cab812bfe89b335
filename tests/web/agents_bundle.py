"""Build the page bundle of the official ``@openai/agents-realtime`` client (npm + esbuild).

``tests/web/agents/`` is a small npm project: ``package.json`` + ``package-lock.json`` pin the SDK
and esbuild, ``page.js`` is the page script. :func:`ensure_bundle` runs ``npm ci`` when
``node_modules`` does not match the lockfile, then esbuild when ``dist/page.js`` is older than its
inputs; both are cached on a hash of their inputs, so a clean clone builds once (≈ 10 s) and
later runs cost nothing. npm needs the registry: run this before entering a network namespace
(``python -m tests.web.agents_bundle`` or ``make agents-bundle``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).parent / "agents"
BUNDLE = PROJECT / "dist" / "page.js"
ESBUILD_ARGS = [
    "page.js",
    "--bundle",
    "--format=iife",
    "--platform=browser",
    "--target=chrome110",
    "--log-level=warning",
    f"--outfile={BUNDLE.relative_to(PROJECT)}",
]


class BundleUnavailable(Exception):
    """npm/node are not installed: the test is skipped with this message."""


class BundleFailed(Exception):
    """npm ci or esbuild failed: the test fails with this message."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _run(args: list[str], what: str, timeout: float) -> None:
    try:
        out = subprocess.run(
            args, cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleFailed(f"{what} took more than {timeout:.0f} s (no registry access?)") from exc
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        tail = [line for line in lines if not re.match(r"(npm error)?\s+at ", line)][-15:]
        raise BundleFailed(f"{what} failed ({out.returncode}) in {PROJECT}:\n" + "\n".join(tail))


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One build at a time (parallel test processes share the directory)."""
    with (PROJECT / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_bundle() -> Path:
    """The path of an up-to-date ``dist/page.js``, building what is missing or stale."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BundleUnavailable(
            "the agents-realtime test needs node and npm to bundle the SDK "
            "(apt-get install --no-install-recommends nodejs npm)"
        )
    lock = PROJECT / "package-lock.json"
    deps_hash = _digest((PROJECT / "package.json").read_bytes(), lock.read_bytes())
    with _locked():
        deps_stamp = PROJECT / "node_modules" / ".vivavoce-lock-hash"
        if not deps_stamp.exists() or deps_stamp.read_text() != deps_hash:
            _run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                "npm ci (needs the npm registry; build before entering a network namespace)",
                timeout=300,
            )
            deps_stamp.write_text(deps_hash)
        bundle_hash = _digest(deps_hash.encode(), (PROJECT / "page.js").read_bytes())
        bundle_stamp = BUNDLE.with_suffix(".hash")
        if (
            not BUNDLE.exists()
            or not bundle_stamp.exists()
            or bundle_stamp.read_text() != bundle_hash
        ):
            esbuild = PROJECT / "node_modules" / ".bin" / "esbuild"
            _run([str(esbuild), *ESBUILD_ARGS], "esbuild", timeout=120)
            bundle_stamp.write_text(bundle_hash)
    return BUNDLE


if __name__ == "__main__":
    print(ensure_bundle())
