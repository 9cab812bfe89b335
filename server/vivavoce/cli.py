"""The ``vivavoce`` command: one subcommand per job.

    vivavoce lsp     the language server (stdio; --ws HOST:PORT for browsers, --tcp for debugging)
    vivavoce web     a voice chat in the browser, served on 127.0.0.1
    vivavoce history saved conversations: list, show, export, play
    vivavoce devices microphones and speakers
    vivavoce doctor  what works and what to fix: sound, devices, key, server
    vivavoce peer    the offline local Realtime peer on 127.0.0.1
    vivavoce demo    one complete spoken exchange (offline by default)

Heavy modules load inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Callable

from . import __version__
from .logs import log_to_stderr

# What `vivavoce --help` says: for users, plain text (the module docstring is for developers).
_DESCRIPTION = """\
A voice assistant for code editors. Your editor starts "vivavoce lsp" as a language
server; it holds a spoken conversation with an OpenAI Realtime model, or with an
offline local peer that needs no network and no key, and streams the transcripts
into the editor."""

_EPILOG = """\
Run "vivavoce COMMAND --help" for a command's options. More to read in the vivavoce
sources: README.md (setup and settings), clients/README.md (each editor) and
SECURITY.md (what stays on this machine)."""


def _parser(selected: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vivavoce",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vivavoce {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level on stderr",
    )
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for name, (help_text, description, configure) in _COMMANDS.items():
        command = sub.add_parser(
            name,
            help=help_text,
            # Filled here: argparse's own filling would split "--base-url" at its hyphen.
            description=textwrap.fill(description, 78, break_on_hyphens=False),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # Only the command being run imports its module: `vivavoce lsp` must start fast.
        if selected in (None, name):
            configure(command)
    return parser


def _lsp(p: argparse.ArgumentParser) -> None:
    from .web import cli as web_cli

    p.add_argument("--stdio", action="store_true", help="serve on stdin/stdout (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="serve on TCP instead (for debugging)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --tcp or --ws on a non-loopback address (anyone there drives your mic)",
    )
    web_cli.add_ws_arguments(p)
    p.set_defaults(run=_run_lsp)


def _peer(p: argparse.ArgumentParser) -> None:
    from .peer import cli as peer_cli

    peer_cli.add_arguments(p)
    p.epilog = peer_cli.EPILOG
    p.set_defaults(run=_run_peer)


def _web(p: argparse.ArgumentParser) -> None:
    from .web import cli as web_cli

    web_cli.add_web_arguments(p)
    p.set_defaults(run=web_cli.run_web)


def _history(p: argparse.ArgumentParser) -> None:
    from .store import cli as store_cli

    store_cli.add_arguments(p)
    p.set_defaults(run=store_cli.main)


def _devices(p: argparse.ArgumentParser) -> None:
    from .audio import devices

    devices.add_arguments(p)
    p.set_defaults(run=devices.main)


def _doctor(p: argparse.ArgumentParser) -> None:
    from .audio import doctor

    doctor.add_arguments(p)
    p.set_defaults(run=doctor.main)


def _demo(p: argparse.ArgumentParser) -> None:
    from . import demo

    demo.add_arguments(p)
    p.set_defaults(run=demo.main)


_COMMANDS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = {
    # name: (one line in `vivavoce --help`, the description of `vivavoce NAME --help`, options)
    "lsp": (
        "the language server editors start (stdio by default)",
        "The language server. Editors start it and speak LSP over stdin/stdout; --ws serves "
        "it to browser pages over WebSocket, --tcp is for debugging. Both listen on "
        "127.0.0.1 unless --allow-remote.",
        _lsp,
    ),
    "peer": (
        "an offline Realtime server: no network, no key",
        "An offline server that speaks the OpenAI Realtime protocol on 127.0.0.1: calls "
        "over WebRTC or WebSocket, "
        "speech recognition and synthesized speech on this machine. It prints "
        "'listening on http://HOST:PORT/v1' once ready.",
        _peer,
    ),
    "demo": (
        "one complete spoken exchange, offline by default",
        "One complete spoken exchange: a synthesized sentence goes into a call as if from "
        "your microphone, both transcripts stream on screen and the assistant's voice is "
        "written to a WAV file. It uses the offline local peer unless --base-url names a "
        "server or OPENAI_API_KEY is set.",
        _demo,
    ),
    "web": (
        "a voice chat in your browser, served on 127.0.0.1",
        "A voice chat in the browser: serves the chat page and the language server on "
        "127.0.0.1 and opens the page.",
        _web,
    ),
    "history": (
        "saved conversations: list, show, export, play",
        "Saved conversations, one file each in the history folder: list them, show or "
        "export one, play its recordings.",
        _history,
    ),
    "devices": (
        "list microphones and speakers",
        "The microphones and speakers this machine offers, with the system defaults marked.",
        _devices,
    ),
    "doctor": (
        "check sound, devices, key and server, with fixes",
        "Checks what a voice conversation needs here (the sound library and server, the "
        "devices, the microphone level, a test tone, the API key, the Realtime server) and "
        "says how to fix what fails.",
        _doctor,
    ),
}


def _selected(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (None for none, e.g. ``--help``)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--log-level":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


def _run_peer(args: argparse.Namespace) -> int:
    from .peer import cli as peer_cli

    try:
        return asyncio.run(peer_cli.run(args))
    except KeyboardInterrupt:
        return 130


def _run_lsp(args: argparse.Namespace) -> int:
    if args.ws:
        from .web.cli import run_lsp_ws

        return run_lsp_ws(args)
    if args.tcp:
        # Refuse before loading the language server: the answer is one line, at once.
        from .errors import RefusedError
        from .netguard import check_bind
        from .web.cli import parse_address

        try:
            host, port = parse_address(args.tcp)
            check_bind(host, allow_remote=args.allow_remote)
        except RefusedError as exc:
            print(f"vivavoce lsp: {exc}", file=sys.stderr)
            return 2
    from .lsp.server import make_server, serve_stdio

    server = make_server()
    if args.tcp:
        server.start_tcp(host, port)
    else:
        serve_stdio(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(_selected(argv)).parse_args(argv)
    log_to_stderr(args.log_level)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
