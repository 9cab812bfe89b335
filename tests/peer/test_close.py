"""Closing the peer's sessions, calls and server: a second close waits for the first.

Real peers and real aiortc clients on loopback. The responder is slow to stop (as a chat
stream closing its HTTP connection is), so a close that returned before its cleanup finished
is caught by the responder not having stopped yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer
from vivavoce.peer.items import Message
from vivavoce.peer.rtc import PeerCall

from .conftest import KEY, CallFactory


class _SlowToStopResponder:
    """Writes nothing until cancelled, then takes a while to stop."""

    def __init__(self) -> None:
        self.replying = asyncio.Event()
        self.stopped = False

    async def answer(
        self, conversation: Sequence[Message], instructions: str, *_: object
    ) -> AsyncIterator[str]:
        return self._reply()

    async def _reply(self) -> AsyncIterator[str]:
        self.replying.set()
        try:
            await asyncio.Event().wait()
            yield ""
        finally:
            await asyncio.sleep(0.3)
            self.stopped = True

    async def aclose(self) -> None:
        return None


async def _replying_call(
    make_call: CallFactory,
) -> tuple[RunningPeer, _SlowToStopResponder, PeerCall]:
    """A peer, and one of its calls with a response being written."""
    responder = _SlowToStopResponder()
    running = await start_peer(api_key=KEY, responder=responder)
    client = await make_call(running.base_url)
    client.ask("tell me a long story")
    await asyncio.wait_for(responder.replying.wait(), 10)
    assert client.call_id is not None
    return running, responder, running.calls[client.call_id]


async def _close_during_close(close: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Start a close, and close again while the first one is still cleaning up.

    Returns (after the second close returned) the first close's task.
    """
    first = asyncio.create_task(close(), name="test: first close")
    await asyncio.sleep(0)  # the first close is under way
    await close()
    return first


@pytest.mark.parametrize("what", ["session", "call", "peer"])
async def test_a_second_close_waits_until_the_first_has_finished(
    make_call: CallFactory, what: str
) -> None:
    running, responder, call = await _replying_call(make_call)
    close = {"session": call.session.close, "call": call.close, "peer": running.close}[what]
    try:
        first = await _close_during_close(close)
        assert responder.stopped, f"the second close of the {what} returned before its cleanup"
        if what != "session":
            assert call.closed.is_set(), "the call is not hung up yet"
            assert call.id not in running.calls
        await first
    finally:
        await running.close()


async def test_a_peer_process_ends_when_the_process_that_started_it_is_killed() -> None:
    """An editor may SIGKILL its language server; the local peer it started must not live on
    (holding a port, memory and recognition workers) with no one to use it."""
    import os
    import signal
    import subprocess
    import sys

    starter = (
        "import asyncio, os, sys\n"
        "from vivavoce.peer.process import PeerProcess\n"
        "async def main():\n"
        "    peer = await PeerProcess.start()\n"
        "    print(peer._proc.pid, flush=True)\n"
        "    await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 60)
        peer_pid = int(line)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(100):  # 10 s at most
            if not _alive(peer_pid):
                break
            await asyncio.sleep(0.1)
        assert not _alive(peer_pid), "the peer outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, does not)."""
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
