"""``vivavoce history``: list, show and export saved conversations.

The lead's CLI adds a ``history`` subparser, calls :func:`add_arguments` on it and runs
:func:`main` with the parsed namespace (its return value is the exit status)::

    vivavoce history list
    vivavoce history show ID            (an id or a unique prefix)
    vivavoce history export --markdown ID [-o FILE]
    vivavoce history path               (prints the folder)

``--dir`` overrides the folder (else the ``historyDir`` setting, ``VIVAVOCE_HISTORY_DIR``,
else the platform's data folder). Warnings (a damaged line) go to stderr; failures are one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..pricing import usd as _usd
from .paths import history_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None, help="history folder")
    sub = parser.add_subparsers(dest="history_command", required=True, metavar="ACTION")

    def action(name: str, says: str) -> argparse.ArgumentParser:
        # The same line in `history --help` and as the description of `history NAME --help`.
        return sub.add_parser(name, help=says, description=f"{says[0].upper()}{says[1:]}.")

    action("list", "one line per conversation: id, started, turns, cost, first line")
    show = action("show", "print one conversation")
    export = action("export", "export one conversation")
    export.add_argument("--markdown", action="store_true", required=True, help="as Markdown")
    export.add_argument("-o", "--output", type=Path, default=None, help="file (default stdout)")
    action("path", "print the history folder")
    play = action("play", "play a conversation's recordings (kept when record is on)")
    play.add_argument("--device", default=None, help="speaker name or index")
    for one in (show, export, play):
        one.add_argument("id", help="conversation id (or a unique prefix)")


def _folder(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return history_dir(args.dir)
    from ..errors import ConfigError
    from ..settings import load_settings

    try:
        configured = load_settings().history_dir
    except ConfigError:
        configured = None
    return history_dir(configured)


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one history action; 0 on success, 1 when the conversation cannot be read."""
    from .reader import find_conversation, list_conversations, read_conversation, to_markdown

    out = out or sys.stdout
    err = err or sys.stderr
    folder = _folder(args)
    action = args.history_command
    if action == "path":
        out.write(f"{folder}\n")
        return 0
    if action == "list":
        for s in list_conversations(folder):
            first = s.first_user_line
            if len(first) > 60:
                first = first[:59] + "…"
            spent = f"{_usd(s.cost_usd):>8}  " if s.cost_usd is not None else ""
            out.write(f"{s.id}  {s.started or '?':24}  {s.turns:4d} turns  {spent}{first}\n")
        return 0
    if action == "play":
        return _play(folder, args, out, err)
    try:
        conv = read_conversation(find_conversation(folder, args.id))
    except LookupError as exc:
        err.write(f"vivavoce history: {exc}\n")
        return 1
    except OSError as exc:
        err.write(f"vivavoce history: cannot read {args.id}: {exc.strerror or exc}\n")
        return 1
    for warning in conv.warnings:
        err.write(f"vivavoce history: warning: {warning}\n")
    if action == "show":
        for t in conv.turns:
            note = " (interrupted)" if t.interrupted else ""
            turn_cost = conv.turn_cost(t.item_id)
            priced = f" [{_usd(turn_cost)}]" if turn_cost is not None else ""
            out.write(f"[{t.time}] {t.role}{note}{priced}: {t.text}\n")
        if conv.cost_usd is not None:
            out.write(f"cost: {_usd(conv.cost_usd)}\n")
        return 0
    text = to_markdown(conv)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


def run(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Stand-alone entry (tests, ``python -m vivavoce.store.cli``)."""
    parser = argparse.ArgumentParser(prog="vivavoce history")
    add_arguments(parser)
    return main(parser.parse_args(list(argv)), out, err)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))


def _play(folder: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Play ``<id>-<n>.wav`` recordings, in order, on the speaker."""
    from ..errors import VivavoceError
    from .reader import find_conversation, recordings

    try:
        conv_id = find_conversation(folder, args.id).stem
    except LookupError as exc:
        err.write(f"vivavoce history: {exc}\n")
        return 1
    found = recordings(folder, conv_id)
    if not found:
        err.write(f"vivavoce history: {conv_id} has no recording (turn on the record setting)\n")
        return 1
    from ..audio.playback import play_file

    for path in found:
        try:
            seconds = play_file(str(path), args.device)
        except VivavoceError as exc:
            err.write(f"vivavoce history: {exc}\n")
            return 1
        out.write(f"played {path} ({seconds:.1f} s)\n")
    return 0
