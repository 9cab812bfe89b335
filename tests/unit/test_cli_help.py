"""``vivavoce --help`` and each ``vivavoce COMMAND --help``, run as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

#: reStructuredText a developer writes in docstrings: ``literal``, :role:`target`.
RST = re.compile(r"``|:[a-z]+:`")


def vivavoce_help(*command: str) -> str:
    """The help of the installed ``vivavoce`` console script (``python -m vivavoce`` without one)."""
    script = Path(sysconfig.get_path("scripts")) / "vivavoce"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "vivavoce"]
    done = subprocess.run(
        [*program, *command, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr == ""
    return done.stdout


def commands(help_text: str) -> list[str]:
    """The command names listed under ``commands:``."""
    listing = help_text.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^ {4}(\w+) ", listing, re.MULTILINE)


def test_vivavoce_help_says_what_it_is_in_plain_text() -> None:
    text = vivavoce_help()
    assert not RST.search(text), text
    assert "voice assistant for code editors" in text
    assert commands(text) == ["lsp", "peer", "demo", "web", "history", "devices", "doctor"]
    assert "README.md" in text  # where to read more


@pytest.mark.parametrize("command", ["lsp", "peer", "demo", "web", "history", "devices", "doctor"])
def test_each_command_help_has_a_plain_description(command: str) -> None:
    text = vivavoce_help(command)
    assert not RST.search(text), text
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: vivavoce {command}")
    assert description[0].isupper() and description.endswith("."), description
