"""Arguments and runners for ``vivavoce lsp --ws`` and ``vivavoce web``.

The ``vivavoce`` command wires them in; until then ``python -m vivavoce.web lsp --ws …`` and
``python -m vivavoce.web web …`` run the same code. Once listening, exactly one line goes to
stdout: ``listening on ws://HOST:PORT/?token=…`` (lsp) or ``listening on http://HOST:PORT/?token=…``
(web, the page's address). Refusals and errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from ..errors import RefusedError
from ..logs import log_to_stderr
from .access import FILE_ORIGINS


def _origin_help() -> str:
    return (
        "also admit pages from this Origin (repeatable; '*' admits any). "
        f"Admitted already: {', '.join(sorted(FILE_ORIGINS))} (local files), clients sending none"
    )


def add_ws_arguments(parser: argparse.ArgumentParser) -> None:
    """``vivavoce lsp``'s WebSocket options (beside ``--tcp``; ``--allow-remote`` is shared)."""
    parser.add_argument(
        "--ws", metavar="HOST:PORT", help="serve over WebSocket (port 0 = any free port)"
    )
    with contextlib.suppress(argparse.ArgumentError):  # `vivavoce lsp` may have it for --tcp
        parser.add_argument(
            "--allow-remote", action="store_true", help="allow a non-loopback --ws address"
        )
    parser.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN", help=_origin_help()
    )


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    """``vivavoce web``'s options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--peer",
        default=None,
        help='the page asks for this peer: "embedded" (offline), "openai", a URL; default: the '
        'settings (VIVAVOCE_PEER, else "auto": the embedded peer unless an API key is set)',
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host address"
    )
    parser.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN", help=_origin_help()
    )
    parser.add_argument("--assets", type=Path, default=None, help=argparse.SUPPRESS)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → ``(host, port)``; a bare port means 127.0.0.1."""
    host, _, port = text.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise RefusedError(f"expected HOST:PORT, got {text!r}") from None


def _say(line: str) -> None:
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def _run(main: Coroutine[Any, Any, None]) -> int:
    """Run until SIGINT/SIGTERM; a refusal is one line on stderr and exit status 2."""

    async def guarded() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(guarded())
    except RefusedError as exc:
        sys.stderr.write(f"vivavoce: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def run_lsp_ws(args: argparse.Namespace) -> int:
    """``vivavoce lsp --ws HOST:PORT``: the language server over WebSocket."""
    from ..lsp.server import make_server
    from .access import new_token
    from .ws import serve_ws

    try:
        host, port = parse_address(args.ws)
    except RefusedError as exc:
        sys.stderr.write(f"vivavoce: {exc}\n")
        return 2
    token = new_token()
    return _run(
        serve_ws(
            make_server,
            host,
            port,
            token=token,
            allowed_origins=set(FILE_ORIGINS) | set(args.allow_origin),
            allow_remote=args.allow_remote,
            on_ready=lambda url: _say(f"listening on {url}"),
        )
    )


def run_web(args: argparse.Namespace) -> int:
    """``vivavoce web``: the chat page and the language server, on one loopback port."""
    from ..lsp.server import make_server
    from .access import new_token
    from .page import serve_web

    return _run(
        serve_web(
            make_server,
            args.host,
            args.port,
            token=new_token(),
            peer=args.peer or None,
            allowed_origins=args.allow_origin,
            allow_remote=args.allow_remote,
            assets=args.assets,
            open_browser=not args.no_browser,
            on_ready=lambda url: _say(f"listening on {url}"),
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vivavoce.web lsp --ws HOST:PORT`` | ``python -m vivavoce.web web [...]``."""
    parser = argparse.ArgumentParser(prog="python -m vivavoce.web")
    parser.add_argument("--log-level", default="warning", help="log level on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("lsp", help="the language server over WebSocket")
    add_ws_arguments(ls)
    ls.set_defaults(run=run_lsp_ws)
    page = sub.add_parser("web", help="the chat page in a browser")
    add_web_arguments(page)
    page.set_defaults(run=run_web)
    args = parser.parse_args(argv)
    if args.command == "lsp" and not args.ws:
        parser.error("lsp needs --ws HOST:PORT here (stdio is `vivavoce lsp`)")
    log_to_stderr(args.log_level)
    code: int = args.run(args)
    return code
