"""Real servers for the fuzz tests, started once per module: subprocesses on 127.0.0.1.

Hypothesis runs examples synchronously; what needs asyncio (an aiortc call, a WebSocket) runs
on a :class:`LoopThread`, a loop in a background thread that outlives the examples.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Lines a server may write to stderr that mean it failed (not a refusal it chose).
CRASH_MARKS = ("Traceback (most recent call last)", "unhandled error", "Unable to handle message")


class LoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` waits for one coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise AssertionError(f"no answer within {timeout} s (a hang)") from None

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Server:
    """A ``vivavoce`` subprocess whose stderr goes to a file."""

    def __init__(self, args: list[str], log: Path, *, stdin: bool = False) -> None:
        self.log = log
        self._err = log.open("wb")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vivavoce", *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
        )
        self.url = ""

    def wait_listening(self, timeout: float = 60.0) -> str:
        """The address from the ``listening on URL`` line the server prints when ready."""
        assert self.process.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(
            target=lambda: result.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        line = result[0].decode().strip() if result else ""
        assert line.startswith("listening on "), f"printed {line!r}; stderr:\n{self.stderr()}"
        self.url = line.removeprefix("listening on ")
        return self.url

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def assert_healthy(self, since: int = 0) -> None:
        """Still running, and nothing in stderr (after offset ``since``) looks like a crash."""
        tail = self.stderr()[since:]
        assert self.alive(), f"the server exited ({self.process.returncode}):\n{tail}"
        for mark in CRASH_MARKS:
            assert mark not in tail, f"{mark!r} in the server's stderr:\n{tail}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._err.close()


@contextmanager
def serving(args: list[str], log: Path, *, stdin: bool = False) -> Iterator[Server]:
    server = Server(args, log, stdin=stdin)
    try:
        yield server
    finally:
        server.stop()


def wait_until(predicate: Any, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
