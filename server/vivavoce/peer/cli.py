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
from typing import Any

from .options import (
    MAX_CALLS,
    MAX_SESSION_SECONDS,
    MAX_UPLOAD_BYTES,
    UPSTREAM_TIMEOUT,
    TranscriptionLag,
)

#: Keys of the upstream servers (never on the command line, which others can see).
TRANSCRIBE_KEY_ENV = "VIVAVOCE_TRANSCRIBE_API_KEY"
SPEECH_KEY_ENV = "VIVAVOCE_SPEECH_API_KEY"
CHAT_KEY_ENV = "VIVAVOCE_CHAT_API_KEY"
#: The chat key's older name, still read.
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
        "--exit-with-stdin",
        action="store_true",
        help="stop when stdin reaches its end: the process that started this one (and holds "
        "the pipe) ended, even if it was killed",
    )
    parser.add_argument(
        "--mode",
        choices=["assistant", "echo"],
        default="assistant",
        help="assistant (default) or echo (calls return the caller's audio)",
    )
    services = parser.add_argument_group(
        "local speech and language servers",
        "Each step of a turn through an OpenAI-compatible server of your own (the built-in "
        "pocketsphinx, flite and responder otherwise). A URL is the base (…/v1) or the full "
        "route. Keys come from the environment only: "
        f"${TRANSCRIBE_KEY_ENV}, ${SPEECH_KEY_ENV}, ${CHAT_KEY_ENV}.",
    )
    services.add_argument(
        "--transcribe-url",
        metavar="URL",
        help="recognition: POST URL/audio/transcriptions (whisper.cpp server, speaches)",
    )
    services.add_argument(
        "--transcribe-model", default="whisper-1", help="model sent to --transcribe-url"
    )
    services.add_argument(
        "--speech-url",
        metavar="URL",
        help="speech: POST URL/audio/speech, raw pcm streamed (Kokoro-FastAPI, speaches)",
    )
    services.add_argument("--speech-model", default="tts-1", help="model sent to --speech-url")
    services.add_argument(
        "--speech-voice",
        metavar="NAME",
        help="voice asked of --speech-url whatever the session's (e.g. Kokoro's af_heart)",
    )
    services.add_argument(
        "--chat-url",
        "--responder",
        dest="chat_url",
        metavar="URL",
        help="replies: POST URL/chat/completions, streamed, tools passed through "
        "(Ollama, llama.cpp server)",
    )
    services.add_argument(
        "--chat-model",
        "--responder-model",
        dest="chat_model",
        default="gpt-4o-mini",
        help="model sent to --chat-url",
    )
    services.add_argument(
        "--upstream-timeout",
        type=float,
        default=UPSTREAM_TIMEOUT,
        metavar="SECONDS",
        help=f"time each request to a server may take (default {UPSTREAM_TIMEOUT:g})",
    )
    services.add_argument(
        "--no-speculate",
        dest="speculate",
        action="store_false",
        help="do not start writing a reply (chat request, first sentence's speech) just before "
        "server_vad's silence ends the turn; by default it is started then and thrown away "
        "if the user goes on (a paid chat server bills those requests)",
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
        **upstream_options(args),
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
    if getattr(args, "exit_with_stdin", False):
        _stop_at_end_of_stdin(loop, stop)
    sys.stdout.write(f"listening on {peer.base_url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await peer.close()
    return 0


def _stop_at_end_of_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` once stdin ends. The process that started us holds the pipe's other end;
    the kernel closes it when that process ends however it ends (SIGKILL included), so a
    local peer never outlives the language server that started it."""
    import threading

    def wait() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait, name="vivavoce peer stdin watch", daemon=True).start()


def upstream_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``start_peer`` options for the servers named on the command line."""
    from .upstreams import Upstream

    timeout = getattr(args, "upstream_timeout", UPSTREAM_TIMEOUT)
    options: dict[str, Any] = {
        "upstream_timeout": timeout,
        "speculate": getattr(args, "speculate", True),
    }
    if getattr(args, "chat_url", None):
        options["responder_url"] = args.chat_url
        options["responder_model"] = args.chat_model
        options["responder_api_key"] = os.environ.get(CHAT_KEY_ENV) or os.environ.get(
            RESPONDER_KEY_ENV
        )
    if getattr(args, "transcribe_url", None):
        key = os.environ.get(TRANSCRIBE_KEY_ENV)
        options["transcribe"] = Upstream(args.transcribe_url, args.transcribe_model, key, timeout)
    if getattr(args, "speech_url", None):
        key = os.environ.get(SPEECH_KEY_ENV)
        options["speech"] = Upstream(args.speech_url, args.speech_model, key, timeout)
        options["speech_voice"] = args.speech_voice
    return options


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
