"""The official ``openai`` package against the peer, with strict response validation."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import AsyncIterator

import numpy as np
import openai
import pytest
from openai import AsyncOpenAI

from .conftest import KEY, word_overlap


@pytest.fixture
async def client(peer) -> AsyncIterator[AsyncOpenAI]:
    c = AsyncOpenAI(
        api_key=KEY, base_url=peer.base_url, _strict_response_validation=True, max_retries=0
    )
    yield c
    await c.close()


async def test_sdk_client_secrets(client: AsyncOpenAI) -> None:
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 300},
        session={
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "be kind",
            "audio": {"input": {"turn_detection": None}},
        },
    )
    assert secret.value.startswith("ek_")
    assert secret.session.type == "realtime"
    assert secret.session.id.startswith("sess_")
    assert secret.session.instructions == "be kind"
    assert secret.session.audio is not None and secret.session.audio.input is not None
    assert secret.session.audio.input.turn_detection is None


async def test_sdk_wrong_key_raises_authentication_error(peer) -> None:
    bad = AsyncOpenAI(api_key="wrong", base_url=peer.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    await bad.close()


async def test_sdk_chat_completions(client: AsyncOpenAI) -> None:
    done = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "short"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert done.choices[0].message.content == (
        "You said: second question. Before that you said: first question."
    )
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens > 0

    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        messages=[{"role": "user", "content": "stream this"}],
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert len([p for p in pieces if p]) >= 2
    assert "".join(pieces) == "You said: stream this. That is the first thing you said."


async def test_sdk_speech_then_transcription_round_trip(client: AsyncOpenAI) -> None:
    wav = await client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="echo",
        input="please open the main file",
        response_format="wav",
    )
    data = wav.read()
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        seconds = w.getnframes() / w.getframerate()
    assert 1.0 < seconds < 4.0

    pcm = await client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="alloy",
        input="hello",
        response_format="pcm",
    )
    samples = np.frombuffer(pcm.read(), dtype=np.int16)
    # 24 kHz s16le mono: "hello" lasts about half a second.
    assert 0.3 < samples.size / 24000 < 1.5
    assert np.abs(samples).max() > 1000

    text = await client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", data, "audio/wav"),
        language="en",
    )
    assert word_overlap("please open the main file", text.text) >= 0.6, text.text
    plain = await client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", data, "audio/wav"),
        response_format="text",
    )
    assert isinstance(plain, str) and word_overlap("open the main file", plain) >= 0.5


async def test_sdk_realtime_calls_create_posts_multipart(client: AsyncOpenAI, peer) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from vivavoce.rtc import prepare_aiortc, rtc_configuration
    from vivavoce.rtc.ice import host_addresses

    prepare_aiortc()
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.createDataChannel("oai-events")
    pc.addTransceiver("audio", direction="sendrecv")
    with host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    try:
        answer = await client.realtime.calls.create(
            sdp=pc.localDescription.sdp,
            session={"type": "realtime", "model": "gpt-realtime", "instructions": "sdk"},
        )
        sdp = answer.read().decode()
        assert sdp.startswith("v=0")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        assert len(peer.calls) == 1
        call = next(iter(peer.calls.values()))
        assert call.session.session.instructions == "sdk"
        await client.realtime.calls.hangup(call.id)
        assert not peer.calls
    finally:
        await pc.close()


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_selection",
            "description": "Read the selected text.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]


@pytest.mark.parametrize("stream", [False, True])
async def test_sdk_chat_tool_call_round_trip(client: AsyncOpenAI, stream: bool) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "Read me the selection."}]
    if stream:
        chunks = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS, stream=True
        )
        parts = [c.choices[0] async for c in chunks if c.choices]
        assert parts[-1].finish_reason == "tool_calls"
        calls = [tc for p in parts for tc in p.delta.tool_calls or []]
        call_id = calls[0].id
        assert calls[0].function is not None and calls[0].function.name == "get_selection"
        arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    else:
        done = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS
        )
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        (tool_call,) = choice.message.tool_calls or []
        assert tool_call.type == "function" and tool_call.function.name == "get_selection"
        call_id, arguments = tool_call.id, tool_call.function.arguments
    assert arguments == "{}"
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_selection", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"text": "count = 1"}'},
    ]
    answer = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=CHAT_TOOLS
    )
    assert answer.choices[0].message.content == "The selection says: count = 1."
    assert answer.choices[0].finish_reason == "stop"


SHOW_CODE = [
    {
        "type": "function",
        "function": {
            "name": "show_code",
            "description": "Show code in the editor.",
            "parameters": {
                "type": "object",
                "properties": {"language": {"type": "string"}, "code": {"type": "string"}},
                "required": ["language", "code"],
            },
        },
    }
]


async def test_sdk_chat_code_is_a_show_code_call_or_markdown(client: AsyncOpenAI) -> None:
    """Asked for code, the built-in responder calls show_code when it is declared (the SDK
    reads the streamed call), else writes markdown with a fenced block."""
    ask = "Write a function that adds two numbers in python."
    chunks = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": ask}],
        tools=SHOW_CODE,
        stream=True,
    )
    parts = [c.choices[0] async for c in chunks if c.choices]
    assert parts[-1].finish_reason == "tool_calls"
    calls = [tc for p in parts for tc in p.delta.tool_calls or []]
    assert calls[0].function is not None and calls[0].function.name == "show_code"
    arguments = json.loads("".join(tc.function.arguments or "" for tc in calls if tc.function))
    assert arguments == {"language": "python", "code": ADD, "title": "add"}
    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": ask}]
    )
    assert f"```python\n{ADD}```" in (plain.choices[0].message.content or "")


ADD = "def add(a, b):\n    return a + b\n"
