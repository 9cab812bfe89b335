"""The peer expects the words a session's transcription names: a made-up identifier spoken
through a real call is recognized as written with the vocabulary, and not without it."""

from __future__ import annotations

import asyncio

from .conftest import KEY, CallFactory, flite_pcm

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


async def test_the_transcription_route_expects_the_words_of_a_prompt_or_keywords(peer) -> None:  # type: ignore[no-untyped-def]
    """Text mode's push-to-talk (``/audio/transcriptions``): the words to expect go as the real
    API takes them, ``prompt`` or ``keywords`` (sent as the openai SDK sends them, by
    :class:`~vivavoce.text.speech.Speech`), and the peer teaches them to its recognizer."""
    import httpx

    from vivavoce.text.speech import Speech

    speech = flite_pcm(SAID, "slt")
    async with httpx.AsyncClient() as http:
        client = Speech(http, base_url=peer.base_url, api_key=KEY, speech_model="tts-1")
        with_prompt = await client.transcribe(
            speech, 16000, "whisper-1", prompt=f"{IDENTIFIER}, parseConfig"
        )
        with_keywords = await client.transcribe(
            speech, 16000, "gpt-transcribe", keywords=[IDENTIFIER, "parseConfig"]
        )
        without = await client.transcribe(speech, 16000, "whisper-1")
    # The openai SDK sends keywords in the same shape.
    from openai import AsyncOpenAI

    from vivavoce.rtc.tracks import wav_bytes

    async with AsyncOpenAI(api_key=KEY, base_url=peer.base_url, max_retries=0) as sdk:
        by_sdk = await sdk.audio.transcriptions.create(
            model="gpt-transcribe",
            file=("speech.wav", wav_bytes(speech, 16000), "audio/wav"),
            keywords=[IDENTIFIER, "parseConfig"],
        )
    assert IDENTIFIER in by_sdk.text.split(), by_sdk.text
    assert IDENTIFIER in with_prompt.split(), with_prompt
    assert IDENTIFIER in with_keywords.split(), with_keywords
    assert IDENTIFIER not in without, without
