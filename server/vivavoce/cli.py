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
import logging
import sys

from . import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vivavoce", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vivavoce {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level on stderr",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from . import demo
    from .peer import cli as peer_cli
    from .store import cli as store_cli
    from .web import cli as web_cli

    peer = sub.add_parser("peer", help="run the offline local Realtime peer")
    peer_cli.add_arguments(peer)
    peer.set_defaults(run=_run_peer)

    ls = sub.add_parser("lsp", help="the language server (stdio by default)")
    ls.add_argument("--stdio", action="store_true", help="serve on stdin/stdout (the default)")
    ls.add_argument("--tcp", metavar="HOST:PORT", help="serve on TCP instead (for debugging)")
    ls.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --tcp or --ws on a non-loopback address (anyone there drives your mic)",
    )
    web_cli.add_ws_arguments(ls)
    ls.set_defaults(run=_run_lsp)

    w = sub.add_parser("web", help="a voice chat in the browser (page and server on 127.0.0.1)")
    web_cli.add_web_arguments(w)
    w.set_defaults(run=web_cli.run_web)

    history = sub.add_parser("history", help="saved conversations: list, show, export")
    store_cli.add_arguments(history)
    history.set_defaults(run=store_cli.main)

    from .audio import devices as audio_devices
    from .audio import doctor as audio_doctor

    dev = sub.add_parser("devices", help="list microphones and speakers")
    audio_devices.add_arguments(dev)
    dev.set_defaults(run=audio_devices.main)

    doc = sub.add_parser("doctor", help="check sound, devices, key and server, with fixes")
    audio_doctor.add_arguments(doc)
    doc.set_defaults(run=audio_doctor.main)

    d = sub.add_parser("demo", help="one complete spoken exchange, offline by default")
    demo.add_arguments(d)
    d.set_defaults(run=demo.main)
    return parser


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
    from .lsp.server import make_server, serve_stdio

    server = make_server()
    if args.tcp:
        from .netguard import is_loopback_host

        host, _, port = args.tcp.rpartition(":")
        host = host or "127.0.0.1"
        if not (is_loopback_host(host) or args.allow_remote):
            print(
                f"vivavoce lsp: --tcp listens on loopback only; {host!r} is not a loopback "
                "address (add --allow-remote to listen there)",
                file=sys.stderr,
            )
            return 2
        server.start_tcp(host, int(port))
    else:
        serve_stdio(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
