"""Fixtures of the tests of the VS Code extension inside code-server (tests/clients/code_server.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.clients.code_server import EXTENSION, ROOT, fail


@pytest.fixture(scope="session")
def code_server() -> Path:
    """The cached code-server launcher (installed now if ``make test`` has not yet)."""
    done = subprocess.run(
        [ROOT / "scripts" / "code_server.sh"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        fail(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no code-server")
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension packaged from this checkout, as users install it (once per run)."""
    if not (EXTENSION / "node_modules" / ".bin" / "vsce").exists():
        fail("clients/vscode/node_modules is missing: run `npm ci` there (make test-vscode does)")
    out = tmp_path_factory.mktemp("vsix") / "vivavoce.vsix"
    done = subprocess.run(
        ["npx", "--no-install", "vsce", "package", "--no-dependencies", "-o", str(out)],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        fail(f"vsce package failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return out
