"""Data-channel event received → ``realtime/transcript`` written: the server's internal latency.

    python -m benchmarks.lsp_transcript [--turns N]

Run by :mod:`benchmarks.run` (group ``lsp_transcript``); prints one protocol line
``{"event": "result", "baseline": {...}, "product": {...}}`` (see :mod:`.harness`).

Everything runs in this one process, so both timestamps come from the same clock:

* the real server, ``vivavoce.lsp.server.make_server()``, served by pygls' ``run_async`` over two
  ``os.pipe()`` s exactly as ``serve_stdio`` does over stdin/stdout (``StdinAsyncReader`` on
  the request pipe, a ``StdoutWriter`` on the answer pipe), with the embedded local peer;
* ``Call._on_channel_message`` is wrapped: it records ``time.perf_counter()`` and the raw
  message as a data-channel message arrives, before the call parses it (parsing happens
  afterwards, off the clock);
* the writer is wrapped: it records the time when ``write`` + ``flush`` of the bytes returned,
  and the bytes;
* a client (:class:`~benchmarks.lsp_client.LspClient`, same event loop) initializes, starts a
  call and sends ``--turns`` texts, waiting each time for the assistant's final transcript.

Afterwards each ``realtime/transcript`` notification is paired with the data-channel event that
caused it: a delta with the first unused event carrying the same ``item_id`` and ``delta``; a
final with the first event that completes that item (``*transcript.done``,
``*transcription.completed``, ``response.output_text.done``, or ``conversation.item.added`` /
``.done`` of a typed user message). Latency = write time − arrival time.

Baseline (the floor): ``json.dumps`` of the same notification, the ``Content-Length`` header,
encoding and ``write`` + ``flush`` on the same kind of writer and pipe — what any server must
spend to put that notification on the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections import defaultdict, deque
from typing import Any, BinaryIO

from benchmarks.harness import emit
from benchmarks.lsp_client import LspClient

OPTIONS = {"vivavoce": {"peer": "embedded"}}
PROMPT = "one two three four five six seven eight nine ten eleven twelve"
DONE_TYPES = frozenset(
    {
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
        "conversation.item.input_audio_transcription.completed",
        "response.output_text.done",
        "response.text.done",
    }
)

Key = tuple[str, ...]


def _event_keys(message: str | bytes) -> list[Key]:
    """The transcript keys a data-channel event can produce (``(item, "d", delta)`` or
    ``(item, "f")``)."""
    try:
        event = json.loads(message)
    except ValueError:
        return []
    kind, item_id = event.get("type", ""), event.get("item_id")
    if item_id and isinstance(event.get("delta"), str) and ("transcript" in kind or "text" in kind):
        return [(item_id, "d", event["delta"])]
    if item_id and kind in DONE_TYPES:
        return [(item_id, "f")]
    item = event.get("item") or {}
    if kind in ("conversation.item.added", "conversation.item.done") and item.get("id"):
        typed = any(p.get("type") == "input_text" for p in item.get("content") or [])
        if item.get("role") == "user" and typed:
            return [(item["id"], "f")]
    return []


def _notification(data: bytes) -> dict[str, Any] | None:
    """The ``realtime/transcript`` notification in one written frame, if it is one."""
    _, _, body = data.partition(b"\r\n\r\n")
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    return msg if msg.get("method") == "realtime/transcript" else None


def pair(
    arrivals: list[tuple[float, str | bytes]], writes: list[tuple[float, bytes]]
) -> tuple[list[float], list[dict[str, Any]], int]:
    """Latencies (ms), the paired notifications, and how many notifications found no event."""
    events: dict[Key, deque[float]] = defaultdict(deque)
    for t, message in arrivals:
        for produced in _event_keys(message):
            events[produced].append(t)
    latencies: list[float] = []
    paired: list[dict[str, Any]] = []
    unpaired = 0
    for t_written, data in writes:
        msg = _notification(data)
        if msg is None:
            continue
        p = msg["params"]
        key: Key = (p["itemId"], "d", p["delta"]) if "delta" in p else (p["itemId"], "f")
        queue = events.get(key)
        if not queue or queue[0] > t_written:
            unpaired += 1
            continue
        latencies.append((t_written - queue.popleft()) * 1000)
        paired.append(msg)
    return latencies, paired, unpaired


class TimedWriter:
    """pygls' ``StdoutWriter`` (write + flush) that records when each frame was written."""

    def __init__(self, stream: BinaryIO) -> None:
        from pygls.io_ import StdoutWriter

        self._inner = StdoutWriter(stream)
        self.log: list[tuple[float, bytes]] = []

    def close(self) -> None:
        self._inner.close()  # type: ignore[no-untyped-call]

    def write(self, data: bytes) -> None:
        self._inner.write(data)
        self.log.append((time.perf_counter(), data))


def floor(messages: list[dict[str, Any]]) -> list[float]:
    """ms to ``json.dumps`` + frame + encode + write + flush each message on a pipe that a
    thread drains (as the editor drains the server's stdout)."""
    from pygls.io_ import StdoutWriter

    r, w = os.pipe()
    drain = threading.Thread(target=lambda: _drain(r), daemon=True)
    drain.start()
    writer = StdoutWriter(os.fdopen(w, "wb"))
    out = []
    try:
        for msg in messages:
            t0 = time.perf_counter()
            body = json.dumps(msg)
            header = f"Content-Length: {len(body)}\r\nContent-Type: application/vscode-jsonrpc; "
            writer.write((header + "charset=utf-8\r\n\r\n" + body).encode("utf-8"))
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        writer.close()  # type: ignore[no-untyped-call]
        drain.join(5.0)
    return out


def _drain(fd: int) -> None:
    with os.fdopen(fd, "rb", buffering=0) as f:
        while f.read(65536):
            pass


async def measure(turns: int) -> dict[str, Any]:
    from pygls.io_ import StdinAsyncReader, run_async

    from vivavoce.lsp.server import make_server
    from vivavoce.realtime import call as call_module

    arrivals: list[tuple[float, str | bytes]] = []
    original = call_module.Call._on_channel_message

    def on_message(self: Any, message: str | bytes) -> None:
        arrivals.append((time.perf_counter(), message))
        original(self, message)

    call_module.Call._on_channel_message = on_message  # type: ignore[method-assign]

    to_server_r, to_server_w = os.pipe()
    to_client_r, to_client_w = os.pipe()
    server = make_server()
    writer = TimedWriter(os.fdopen(to_client_w, "wb"))
    server.protocol.set_writer(writer)
    server._stop_event = threading.Event()
    serving = asyncio.get_running_loop().create_task(
        run_async(
            stop_event=server._stop_event,
            reader=StdinAsyncReader(os.fdopen(to_server_r, "rb"), server.thread_pool),
            protocol=server.protocol,
            error_handler=server.report_server_error,
        )
    )

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(to_client_r, "rb")
    )

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(to_server_w, view) :]

    client = LspClient.over(reader, write)
    try:
        await client.initialize(OPTIONS, limit=30.0)
        status = await client.request("realtime/start", {}, limit=60.0)
        if status.get("state") != "live":
            raise RuntimeError(f"realtime/start did not go live: {status}")
        for _ in range(turns):
            await client.request("realtime/sendText", {"text": PROMPT}, limit=10.0)
            await client.wait_notification(
                "realtime/transcript",
                lambda p: p.get("role") == "assistant" and p.get("final"),
                limit=60.0,
            )
        await client.request("realtime/stop", None, limit=10.0)
        writes = list(writer.log)
        latencies, paired, unpaired = pair(list(arrivals), writes)
        floor_ms = floor(paired)
    finally:
        with contextlib.suppress(Exception):
            await client.request("shutdown", None, limit=5.0)
        server._stop_event.set()
        os.close(to_server_w)  # EOF: the read loop ends
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving, 5.0)
        await server.close()
        server.thread_pool.shutdown(wait=False, cancel_futures=True)
        call_module.Call._on_channel_message = original  # type: ignore[method-assign]
    return {
        "product": {
            "latency_ms": [round(x, 4) for x in latencies],
            "unpaired": unpaired,
            "data_channel_messages": len(arrivals),
            "frames_written": len(writes),
        },
        "baseline": {"latency_ms": [round(x, 4) for x in floor_ms]},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--turns", type=int, default=4, help="typed turns the assistant answers")
    args = p.parse_args(argv)
    try:
        result = asyncio.run(measure(args.turns))
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise
    emit("result", **result)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
