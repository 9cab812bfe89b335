"""A private assistant (issue 21): the conversation talks to a peer whose every step is one of
the user's own servers, here real HTTP servers on loopback (a stub passing requests on to a
second local peer, or failing as local servers do).

Real aiortc call, real recognition and speech behind the stub; the sound card is in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.integration.test_conversation import Session
from tests.upstream_stub import StubUpstreams
from vivavoce.peer.upstreams import Upstream
from vivavoce.settings import Settings

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
async def stub(peer: Any) -> AsyncIterator[StubUpstreams]:
    upstreams = await StubUpstreams(peer.base_url).start()
    yield upstreams
    await upstreams.close()


@pytest.fixture
async def composed(stub: StubUpstreams) -> AsyncIterator[Any]:
    """A peer with no recognizer, voice or responder of its own: all three are the stub."""
    from vivavoce.peer import start_peer

    running = await start_peer(
        transcribe=Upstream(stub.base_url, "whisper-large-v3-turbo"),
        speech=Upstream(stub.base_url, "kokoro"),
        speech_voice="af_heart",
        responder_url=stub.base_url,
        responder_model="qwen2.5-coder",
        upstream_timeout=2.0,
    )
    yield running
    await running.close()


@pytest.fixture
async def session(composed: Any) -> AsyncIterator[Session]:
    s = Session(Settings(peer=composed.base_url, api_key=None))
    yield s
    await s.conv.close()


async def test_a_spoken_turn_is_heard_answered_and_spoken_by_the_users_servers(
    session: Session, stub: StubUpstreams, speak: Callable[[str], Awaitable[Any]]
) -> None:
    conv, sink = session.conv, session.audio.sink
    await conv.start()
    session.audio.speak(await speak("the build is broken"), 16000)
    await session.until(lambda: any(u.text for u in session.finals("assistant")))
    heard = session.finals("user")[0].text
    assert "build" in heard and "broken" in heard
    reply = session.finals("assistant")[0].text
    assert reply.startswith("You said:") and "broken" in reply
    await session.until(lambda: sink.audible_frames > 50)  # its voice reached the speaker
    # Each step went to the user's servers, with the names they know.
    assert stub.asked["transcriptions"][0]["model"] == "whisper-large-v3-turbo"
    chat = stub.asked["chat"][0]
    assert chat["model"] == "qwen2.5-coder" and chat["messages"][-1]["content"] == heard
    assert {s["voice"] for s in stub.asked["speech"]} == {"af_heart"}
    assert session.messages == []


async def test_talking_over_the_reply_cuts_it(
    session: Session, speak: Callable[[str], Awaitable[Any]]
) -> None:
    conv, sink = session.conv, session.audio.sink
    await conv.start()
    await conv.send_text(" ".join(f"This is sentence {n} of a long answer." for n in range(8)))
    await session.until(lambda: sink.audible_frames > 20)
    session.audio.speak(await speak("wait a moment please"), 16000)
    await session.until(
        lambda: any(u.role == "assistant" and u.final and u.interrupted for u in session.updates)
    )
    assert session.messages == []  # a barge-in is normal, nothing to tell


async def test_a_server_that_fails_is_said_once_and_the_next_turn_works(
    session: Session, stub: StubUpstreams
) -> None:
    conv = session.conv
    await conv.start()
    stub.behaviour["chat"] = "fail"
    await conv.send_text("first try")
    await conv.send_text("second try")
    await session.until(lambda: len(stub.asked["chat"]) == 2 and bool(session.messages))
    stub.behaviour["chat"] = "hang"
    await conv.send_text("third try")
    await session.until(lambda: len(session.messages) == 2)
    stub.behaviour["chat"] = "pass"
    await conv.send_text("fourth try")
    await session.until(lambda: "fourth try" in session.finals("assistant")[-1].text)
    assert session.finals("assistant")[-1].text.startswith("You said: fourth try.")
    refused, slow = session.messages  # the same failure twice is said once
    assert "the reply server http://127.0.0.1:" in refused
    assert "/chat/completions answered HTTP 503: " in refused and "model not loaded" in refused
    assert slow.endswith("/chat/completions did not answer within 2 s")
    assert conv.status.state == "live"
