"""The peer expects the words a session's transcription names: a made-up identifier spoken
through a real call is recognized as written with the vocabulary, and not without it."""

from __future__ import annotations

import asyncio

from .conftest import CallFactory, flite_pcm

SAID = "call get user by id with the token"
IDENTIFIER = "getUserById"


async def _heard(peer, make_call: CallFactory, transcription: dict[str, object]) -> str:  # type: ignore[no-untyped-def]
    call = await make_call(peer.base_url)
    call.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                # Push-to-talk: the turn is committed without asking for a spoken reply.
                "audio": {"input": {"transcription": transcription, "turn_detection": None}},
            },
        }
    )
    await call.wait_for("session.updated")
    speech = flite_pcm(SAID, "slt")
    call.say(speech)
    await asyncio.sleep(len(speech) / 16000 + 0.4)
    call.send({"type": "input_audio_buffer.commit"})
    done = await call.wait_for("conversation.item.input_audio_transcription.completed", timeout=15)
    return str(done["transcript"])


async def test_a_vocabulary_identifier_is_heard_as_written_only_with_the_vocabulary(
    peer, make_call: CallFactory
) -> None:
    with_keywords = await _heard(
        peer, make_call, {"model": "gpt-transcribe", "keywords": [IDENTIFIER, "parseConfig"]}
    )
    assert IDENTIFIER in with_keywords.split(), with_keywords
    # A prompt (whisper-1, gpt-4o-transcribe) names the words as well.
    with_prompt = await _heard(
        peer, make_call, {"model": "whisper-1", "prompt": f"{IDENTIFIER}, parseConfig"}
    )
    assert IDENTIFIER in with_prompt.split(), with_prompt
    without = await _heard(peer, make_call, {"model": "gpt-transcribe"})
    assert IDENTIFIER not in without, without
