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

    async def reply(self, conversation: Sequence[Message], instructions: str) -> AsyncIterator[str]:
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
