"""The JSON-lines protocol between the runner and the client subprocesses it measures.

A client (``raw_aiortc offerer`` or ``product_client``) prints one JSON object per line on
stdout: ``{"event": "live", ...}`` once its call is up, ``{"event": "result", ...}`` when its
task is done. For tasks that run until told (``duplex``) it waits for a line or EOF on stdin
before it stops, so the runner decides the measurement window and can read CPU counters
before any teardown. Logs go to stderr. :class:`Child` is the runner's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def emit(event: str, **data: Any) -> None:
    """Client side: print one protocol line."""
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


async def wait_for_stop() -> None:
    """Client side: return when the runner writes a line to stdin or closes it."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


class Child:
    """A subprocess of ``python -m MODULE ARGS`` with line-oriented stdout."""

    def __init__(self, name: str, module: str, *args: str, env: dict[str, str] | None = None):
        self.name = name
        self.argv = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: list[str] = []
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._stderr_task = asyncio.get_running_loop().create_task(self._drain_stderr())
        return self

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr_tail = [*self.stderr_tail[-40:], line]
            if os.environ.get("BENCH_VERBOSE"):
                print(f"[{self.name}] {line}", file=sys.stderr)

    async def readline(self, limit: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), limit)
        if not raw:
            await asyncio.sleep(0.2)  # let stderr drain
            raise RuntimeError(f"{self.name} exited: {self.describe_failure()}")
        return raw.decode(errors="replace").rstrip()

    async def wait_for_pattern(self, pattern: str, limit: float) -> re.Match[str]:
        """Read stdout lines until one matches ``pattern`` (e.g. the "listening on" line)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            line = await self.readline(max(0.1, deadline - loop.time()))
            m = re.search(pattern, line)
            if m:
                return m

    async def event(self, name: str, limit: float) -> dict[str, Any]:
        """Read protocol lines until the event ``name`` (non-JSON lines are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            line = await self.readline(max(0.1, deadline - loop.time()))
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if msg.get("event") == "error":
                raise RuntimeError(f"{self.name}: {msg.get('message')}")
            if msg.get("event") == name:
                return dict(msg)

    def tell_stop(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.close()

    def describe_failure(self) -> str:
        code = self.proc.returncode if self.proc else None
        return f"exit code {code}; stderr tail:\n" + "\n".join(self.stderr_tail[-15:])

    async def stop(self, grace: float = 5.0, *, terminate: bool = False) -> None:
        """End this process only: stdin EOF, then (after ``grace`` s, or at once with
        ``terminate``) SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.tell_stop()
        steps = ((0.0 if terminate else grace, self.proc.terminate), (3.0, self.proc.kill))
        for wait_s, action in steps:
            try:
                await asyncio.wait_for(self.proc.wait(), wait_s)
                break
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    action()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 3.0)
        if self._stderr_task is not None:
            self._stderr_task.cancel()


#: What a server prints once it listens (the raw echo server and ``vivavoce peer`` alike).
LISTENING = r"listening on (http://\S+)"
#: Seconds a server may take to say it is listening.
START_LIMIT = 60.0


@contextlib.asynccontextmanager
async def serving(
    server: Child, client_for: Callable[[str], Child]
) -> AsyncIterator[tuple[Child, Child]]:
    """``server`` started, and the client ``client_for(its URL)`` gives; both ended on exit."""
    await server.start()
    try:
        url = (await server.wait_for_pattern(LISTENING, START_LIMIT)).group(1)
        client = await client_for(url).start()
        try:
            yield server, client
        finally:
            await client.stop()
    finally:
        await server.stop(terminate=True)


async def measure_window(
    pairs: dict[str, tuple[Child, Child]], duration: float, result_limit: float
) -> dict[str, dict[str, Any]]:
    """CPU and RSS of every (server, client) pair over one ``duration`` window, then each
    client stopped: per side, its ``result`` event with ``wall_s`` and ``usage`` (by role)."""
    from benchmarks.procstat import UsageSampler

    sampler = UsageSampler(
        {
            f"{side} {role}": child.pid
            for side, pair in pairs.items()
            for role, child in zip(("server", "client"), pair, strict=True)
        }
    )
    sampler.start()
    await asyncio.sleep(duration)
    wall, usage = await sampler.stop()
    results: dict[str, dict[str, Any]] = {}
    for side, (_, client) in pairs.items():
        client.tell_stop()
        result = await client.event("result", result_limit)
        result["wall_s"] = wall
        result["usage"] = {
            u.name.split()[1]: vars(u) for u in usage if u.name.startswith(side + " ")
        }
        results[side] = result
    return results
