"""Transcription sessions (dictation): the key and the call in the GA shape, only transcripts.

Minted with the official ``openai`` package (its request types check the body), called with a
raw aiortc client, and every event on the wire checked against the SDK's types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from openai import AsyncOpenAI

from .conftest import KEY, CallFactory, flite_pcm, word_overlap

pytestmark = pytest.mark.wire_conformance

SAID = "the code is ready period we fixed the bug period"


@pytest.fixture
async def client(peer) -> AsyncIterator[AsyncOpenAI]:
    c = AsyncOpenAI(
        api_key=KEY, base_url=peer.base_url, _strict_response_validation=True, max_retries=0
    )
    yield c
    await c.close()


async def test_a_transcription_session_streams_what_was_said_and_never_answers(
    peer, client: AsyncOpenAI, make_call: CallFactory
) -> None:
    secret = await client.realtime.client_secrets.create(
        session={
            "type": "transcription",
            "audio": {
                "input": {
                    "transcription": {"model": "gpt-transcribe", "language": "en"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                }
            },
        },
    )
    assert secret.session.type == "transcription"
    call = await make_call(peer.base_url, key=secret.value)
    created = call.of_type("session.created")[0]["session"]
    assert created["type"] == "transcription"
    assert "model" not in created and "output" not in created["audio"]
    assert created["audio"]["input"]["transcription"]["model"] == "gpt-transcribe"

    call.say(np.concatenate([np.zeros(4000, np.int16), flite_pcm(SAID)]))
    done = await call.wait_for("conversation.item.input_audio_transcription.completed", timeout=20)
    assert word_overlap(SAID, done["transcript"]) >= 0.8, done
    deltas = [
        e["delta"]
        for e in call.of_type("conversation.item.input_audio_transcription.delta")
        if e["item_id"] == done["item_id"]
    ]
    assert len(deltas) > 3, deltas  # streamed word by word, not all at once
    assert "".join(deltas) == done["transcript"]

    call.send({"type": "response.create"})
    refused = await call.wait_for("error")
    assert "transcription session" in refused["error"]["message"]
    assert not [t for t in call.types() if t.startswith(("response.", "output_audio_buffer."))]
    assert call.audible_ms() == 0  # no spoken reply either


async def test_push_to_talk_commits_a_transcription_turn(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url)
    call.send(
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        }
    )
    updated = await call.wait_for("session.updated")
    assert updated["session"]["type"] == "transcription"
    call.say(flite_pcm("call me tomorrow period"))
    await asyncio.sleep(3.5)  # the speech plays into the buffer (no VAD: nothing happens)
    assert not call.of_type("input_audio_buffer.committed")
    call.send({"type": "input_audio_buffer.commit"})
    done = await call.wait_for("conversation.item.input_audio_transcription.completed", timeout=20)
    assert word_overlap("call me tomorrow period", done["transcript"]) >= 0.75, done
    assert not [t for t in call.types() if t.startswith("response.")]
