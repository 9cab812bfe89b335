"""``vivavoce peer``: run a local peer until interrupted.

The lead's CLI calls :func:`add_arguments` on its ``peer`` subparser and ``asyncio.run(run(args))``
(or :func:`main` with an argv list). Once serving, exactly one line goes to stdout:
``listening on http://HOST:PORT/v1``. The responder's key is read from the environment
variable ``VIVAVOCE_RESPONDER_API_KEY`` (never from the command line, which others can see).
The peer's own key may come from ``--api-key``, ``$VIVAVOCE_PEER_API_KEY`` or, with
``--api-key-stdin``, the first line of stdin (how the language server hands a per-start key to
the peer process it starts: no other user can read it, see :mod:`.process`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from .options import MAX_CALLS, MAX_SESSION_SECONDS, MAX_UPLOAD_BYTES, TranscriptionLag

RESPONDER_KEY_ENV = "VIVAVOCE_RESPONDER_API_KEY"
#: What ``vivavoce peer --help`` says about the routes.
EPILOG = """\
Realtime calls come over WebRTC (POST /v1/realtime/calls with an SDP offer)
or a WebSocket (GET /v1/realtime?model=gpt-realtime; the key in
'Authorization: Bearer' or, from a browser, as the subprotocols 'realtime'
and 'openai-insecure-api-key.<key>'; audio in input_audio_buffer.append, out
in response.output_audio.delta). Also: /v1/realtime/client_secrets,
/v1/chat/completions, /v1/audio/speech, /v1/audio/transcriptions, /v1/models."""
#: The peer's own key from the environment (the command line is visible to other users).
PEER_KEY_ENV = "VIVAVOCE_PEER_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(PEER_KEY_ENV) or None,
        help=f"require this bearer key (default ${PEER_KEY_ENV}); without one any non-empty "
        "key is accepted, so web pages are refused: a request whose Origin is not "
        "http(s)://127.0.0.1 or localhost gets 403 (programs send no Origin)",
    )
    parser.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read the bearer key from the first line of stdin (overrides --api-key)",
    )
    parser.add_argument(
        "--mode",
        choices=["assistant", "echo"],
        default="assistant",
        help="assistant (default) or echo (calls return the caller's audio)",
    )
    parser.add_argument(
        "--responder",
        metavar="URL",
        default=None,
        help="OpenAI-compatible chat completions URL writing the replies "
        f"(key from ${RESPONDER_KEY_ENV})",
    )
    parser.add_argument(
        "--responder-model", default="gpt-4o-mini", help="model name sent to --responder"
    )
    parser.add_argument(
        "--max-upload-mib",
        type=int,
        default=MAX_UPLOAD_BYTES // (1024 * 1024),
        help="largest accepted upload in MiB (default 25)",
    )
    parser.add_argument(
        "--max-calls",
        type=_positive,
        default=MAX_CALLS,
        metavar="N",
        help=f"calls open at once (default {MAX_CALLS}); one more gets HTTP 429 "
        "rate_limit_exceeded and the open calls go on",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (requires --api-key)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault (repeatable; see vivavoce.peer.faults), e.g. key-429",
    )
    parser.add_argument(
        "--faults",
        dest="fault_admin",
        action="store_true",
        help="serve POST /v1/_admin/faults (turn faults on and fire them at run time; tests)",
    )
    parser.add_argument(
        "--fault-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds after session.created before a call fault fires (default 1)",
    )
    parser.add_argument(
        "--transcription-lag",
        type=_lag,
        default="after-response",
        metavar="WHEN",
        help="when the caller's transcription reaches the client: after-response (default, "
        "like the real API), before (ahead of the reply), or a number of seconds after commit",
    )
    parser.add_argument(
        "--max-session-seconds",
        type=float,
        default=MAX_SESSION_SECONDS,
        metavar="SECONDS",
        help="end each call with session_expired after this long (default 3600, like the API)",
    )
    parser.add_argument(
        "--no-server-truncation",
        dest="server_truncation",
        action="store_false",
        help="on barge-in, do not truncate the assistant's item server-side",
    )
    parser.add_argument(
        "--ga-only",
        action="store_true",
        help="refuse the beta routes and beta-shaped sessions (beta_api_shape_disabled), "
        "as api.openai.com does",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (stderr)")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _lag(value: str) -> TranscriptionLag:
    if value in ("before", "after-response"):
        return value  # type: ignore[return-value]
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected before, after-response or a number of seconds"
        ) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("the lag cannot be negative")
    return seconds


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status (2: refused options)."""
    from ..errors import ConfigError
    from ..netguard import check_bind
    from .app import start_peer
    from .faults import check_names

    if getattr(args, "api_key_stdin", False):
        args.api_key = sys.stdin.readline().strip() or None
        if args.api_key is None:
            sys.stderr.write("vivavoce peer: --api-key-stdin: no key on stdin\n")
            return 2
    try:
        check_bind(
            args.host,
            allow_remote=getattr(args, "allow_remote", False),
            api_key=args.api_key,
        )
        check_names(getattr(args, "fault", []))
    except (ConfigError, ValueError) as exc:
        sys.stderr.write(f"vivavoce peer: {exc}\n")
        return 2
    peer = await start_peer(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        mode=args.mode,
        responder_url=args.responder,
        responder_model=args.responder_model,
        responder_api_key=os.environ.get(RESPONDER_KEY_ENV),
        max_upload_bytes=args.max_upload_mib * 1024 * 1024,
        faults=tuple(getattr(args, "fault", [])),
        fault_delay=getattr(args, "fault_delay", 1.0),
        fault_admin=getattr(args, "fault_admin", False),
        transcription_lag=getattr(args, "transcription_lag", "after-response"),
        max_session_seconds=getattr(args, "max_session_seconds", MAX_SESSION_SECONDS),
        server_truncation=getattr(args, "server_truncation", True),
        ga_only=getattr(args, "ga_only", False),
        max_calls=getattr(args, "max_calls", MAX_CALLS),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"listening on {peer.base_url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await peer.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vivavoce peer",
        description="Run a local, offline OpenAI Realtime peer on loopback.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    from ..logs import log_to_stderr

    log_to_stderr(args.log_level)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
