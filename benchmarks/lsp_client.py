"""A small LSP (JSON-RPC 2.0, ``Content-Length`` framing) client on asyncio streams.

Shared by the language-server benchmarks (:mod:`.lsp_bench`, :mod:`.lsp_transcript`). It
imports nothing from vivavoce, pygls or lsprotocol, so it measures the product and the bare
pygls baseline with the same instrument.

* :meth:`LspClient.spawn` starts ``python -m MODULE ARGS`` with pipes for stdin/stdout;
  :meth:`LspClient.over` wraps any stream pair (the in-process benchmark uses ``os.pipe()``).
* :meth:`LspClient.request_timed` returns the result with the send and receive times
  (``time.perf_counter()``): "sent" is taken just before the bytes go to the pipe, "received"
  when the read loop has parsed the answer — before any waiting task is woken, so the event
  loop's scheduling of the caller is not counted.
* Requests from the server (``workspace/configuration``, ``window/workDoneProgress/create``,
  ``workspace/applyEdit`` …) are answered at once with ``null`` (a list of ``null`` for
  ``workspace/configuration``), as a minimal editor would.
* Notifications are kept in :attr:`LspClient.notifications` as ``(received, message)``;
  :meth:`LspClient.wait_notification` waits for one that matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

Message = dict[str, Any]
Write = Callable[[bytes], None]


class LspError(RuntimeError):
    """The server answered a request with a JSON-RPC error."""


def frame(message: Message) -> bytes:
    """One message with its ``Content-Length`` header."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class LspClient:
    """The client end of one LSP connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        write: Write,
        proc: asyncio.subprocess.Process | None = None,
    ) -> None:
        self._reader = reader
        self._write = write
        self.proc = proc
        self.notifications: list[tuple[float, Message]] = []
        self._pending: dict[int, asyncio.Future[tuple[float, Message]]] = {}
        self._next_id = 0
        self._changed = asyncio.Event()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        self._stderr_task: asyncio.Task[None] | None = None
        self.stderr_tail: list[str] = []

    # ------------------------------------------------------------------ construction

    @classmethod
    async def spawn(
        cls, module: str, *args: str, env: dict[str, str] | None = None
    ) -> tuple[LspClient, float]:
        """Start ``python -m module args`` and connect; also returns the spawn time."""
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin
        client = cls(proc.stdout, stdin.write, proc)
        client._stderr_task = asyncio.get_running_loop().create_task(client._drain_stderr())
        return client, t0

    @classmethod
    def over(cls, reader: asyncio.StreamReader, write: Write) -> LspClient:
        """A client on an existing stream pair (no process)."""
        return cls(reader, write)

    # ------------------------------------------------------------------ sending

    def _send(self, message: Message) -> None:
        self._write(frame(message))

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request_timed(
        self, method: str, params: Any = None, limit: float = 30.0
    ) -> tuple[Any, float, float]:
        """``(result, sent, received)``; raises :class:`LspError` on an error answer."""
        self._next_id += 1
        msg_id = self._next_id
        future: asyncio.Future[tuple[float, Message]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        sent = time.perf_counter()
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        try:
            received, answer = await asyncio.wait_for(future, limit)
        finally:
            self._pending.pop(msg_id, None)
        if "error" in answer:
            raise LspError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result"), sent, received

    async def request(self, method: str, params: Any = None, limit: float = 30.0) -> Any:
        return (await self.request_timed(method, params, limit))[0]

    async def initialize(self, options: Any = None, limit: float = 30.0) -> float:
        """``initialize`` then ``initialized``; returns when the answer arrived."""
        params = {
            "processId": os.getpid(),
            "rootUri": None,
            "capabilities": {},
            "initializationOptions": options,
        }
        _, _, received = await self.request_timed("initialize", params, limit)
        self.notify("initialized", {})
        return received

    # ------------------------------------------------------------------ receiving

    async def wait_notification(
        self, method: str, match: Callable[[Any], bool] = lambda _: True, limit: float = 30.0
    ) -> Message:
        """The first notification ``method`` (from now on) whose params satisfy ``match``."""
        start = len(self.notifications)
        async with asyncio.timeout(limit):
            while True:
                for _, msg in self.notifications[start:]:
                    if msg.get("method") == method and match(msg.get("params")):
                        return msg
                start = len(self.notifications)
                self._changed.clear()
                await self._changed.wait()

    async def _read_loop(self) -> None:
        reader = self._reader
        try:
            while True:
                length = 0
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                received = time.perf_counter()
                self._dispatch(received, json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LspError(f"connection closed{self._why()}"))
            self._changed.set()

    def _dispatch(self, received: float, msg: Message) -> None:
        if "method" not in msg:  # an answer
            future = self._pending.get(msg.get("id", -1))
            if future is not None and not future.done():
                future.set_result((received, msg))
            return
        if "id" in msg:  # a request from the server
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [None for _ in (msg.get("params") or {}).get("items", [])]
            with contextlib.suppress(Exception):
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            return
        self.notifications.append((received, msg))
        self._changed.set()

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr_tail = [*self.stderr_tail[-30:], line]
            if os.environ.get("BENCH_VERBOSE"):
                print(f"[lsp {self.pid}] {line}", file=sys.stderr)

    def _why(self) -> str:
        if self.proc is None:
            return ""
        return f" (exit code {self.proc.returncode}); stderr tail:\n" + "\n".join(
            self.stderr_tail[-10:]
        )

    # ------------------------------------------------------------------ process

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def close(self, grace: float = 3.0) -> None:
        """``shutdown`` + ``exit``, then close stdin; SIGTERM/SIGKILL only if it lingers."""
        if not self._closed:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, limit=grace)
            with contextlib.suppress(Exception):
                self.notify("exit", None)
        proc = self.proc
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            for wait_s, action in ((grace, proc.terminate), (2.0, proc.kill)):
                try:
                    await asyncio.wait_for(proc.wait(), wait_s)
                    break
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        action()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._stderr_task is not None:
            self._stderr_task.cancel()


def rss_mib(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of ``pid`` in MiB, from ``/proc/PID/status``."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]
