"""The peer's steps through a user's own servers (issue 21): what is sent, streamed, refused.

The upstreams are real HTTP servers on loopback: :class:`tests.upstream_stub.StubUpstreams`
passing requests on to a second local peer (real recognition, flite speech, a responder that
calls tools), or failing in the ways local servers fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from tests.peer.conftest import KEY
from tests.upstream_stub import StubUpstreams
from vivavoce.peer.items import Message, ToolCall
from vivavoce.peer.responders import ChatResponder
from vivavoce.peer.upstreams import HttpRecognizer, HttpSynthesizer, Upstream, UpstreamError
from vivavoce.rtc.tracks import Pcm

REPLACE = {
    "name": "replace_selection",
    "description": "Replace the selected text.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
}


@pytest.fixture
async def stub(peer: Any) -> AsyncIterator[StubUpstreams]:
    upstreams = await StubUpstreams(peer.base_url, KEY).start()
    yield upstreams
    await upstreams.close()


async def test_recognition_posts_the_turn_with_the_vocabulary_as_prompt(
    stub: StubUpstreams, speak: Callable[[str], Awaitable[Pcm]]
) -> None:
    recognizer = HttpRecognizer(Upstream(stub.base_url, "whisper-large-v3"))
    try:
        text = await recognizer.transcribe(await speak("open the main file"), ("getUserById",))
    finally:
        await recognizer.aclose()
    assert "main file" in text
    [asked] = stub.asked["transcriptions"]
    assert asked["model"] == "whisper-large-v3" and asked["prompt"] == "getUserById"
    assert asked["file"] > 16000  # the whole turn, as a WAV file


async def test_speech_is_handed_on_while_the_server_is_still_sending() -> None:
    """The first piece plays before the server has finished the sentence."""
    release = asyncio.Event()
    first_bytes = np.full(7201, 2000, dtype="<i2").tobytes()
    second = first_bytes[-1:] + np.full(4800, 1000, dtype="<i2").tobytes()

    async def speech(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await response.prepare(request)
        await response.write(first_bytes[:-1])  # a sample cut in two
        await release.wait()
        await response.write(second)
        await response.write_eof()
        return response

    runner = await _serve(("/v1/audio/speech", speech))
    synthesizer = HttpSynthesizer(Upstream(_url(runner), "kokoro"), voice="af_heart")
    try:
        pieces = synthesizer.stream("Hello there.", "alloy")
        first = await asyncio.wait_for(anext(pieces), 10)  # before the rest was sent
        release.set()
        rest = [piece async for piece in pieces]
    finally:
        await synthesizer.aclose()
        await runner.cleanup()
    total = first.size + sum(p.size for p in rest)
    # 24 kHz in, 16 kHz out: 7201 + 4800 samples → about 8000.
    assert first.size >= 1600 and abs(total - 8000) < 80
    assert abs(int(np.median(first)) - 2000) < 50 and abs(int(np.median(rest[-1])) - 1000) < 50


async def test_speech_in_wav_is_taken_whole_and_resampled(stub: StubUpstreams) -> None:
    from vivavoce.rtc.tracks import wav_bytes

    async def speech(request: web.Request) -> web.Response:
        tone = (3000 * np.sin(np.arange(22050) / 10)).astype(np.int16)
        return web.Response(body=wav_bytes(tone, 22050), content_type="audio/wav")

    runner = await _serve(("/v1/audio/speech", speech))
    synthesizer = HttpSynthesizer(Upstream(_url(runner) + "/audio/speech", "piper"))
    try:
        pcm = await synthesizer.synthesize("One second of tone.")
    finally:
        await synthesizer.aclose()
        await runner.cleanup()
    assert abs(pcm.size - 16000) < 100


async def test_tools_go_to_the_model_and_its_call_comes_back(stub: StubUpstreams) -> None:
    chat = ChatResponder(stub.base_url, model="llama3.2")
    try:
        asked = [Message("user", "replace the selection with total")]
        call = await chat.answer(asked, "Be brief.", ["replace_selection"], [REPLACE])
        # No tool fits: the answer is text, asked for once and streamed on.
        plain = [Message("user", "how are you")]
        text = await chat.answer(plain, "", ["replace_selection"], [REPLACE])
        assert not isinstance(text, ToolCall)
        reply = "".join([chunk async for chunk in text])
    finally:
        await chat.aclose()
    assert isinstance(call, ToolCall) and call.name == "replace_selection"
    assert json.loads(call.arguments) == {"text": "total"}
    first, _ = stub.asked["chat"]  # two requests in all
    assert first["model"] == "llama3.2" and first["stream"] is True
    assert first["tools"] == [{"type": "function", "function": REPLACE}]
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert reply == "You said: how are you. That is the first thing you said."


async def test_the_output_of_a_call_goes_back_with_its_call_id(stub: StubUpstreams) -> None:
    chat = ChatResponder(stub.base_url)
    turns = [
        Message("user", "replace the selection with total"),
        Message("assistant", "", call=ToolCall("replace_selection", '{"text":"total"}', "call_1")),
        Message("tool", '{"ok": true}', name="replace_selection", call_id="call_1"),
    ]
    try:
        reply = "".join([chunk async for chunk in await chat.answer(turns, "")])
    finally:
        await chat.aclose()
    messages = stub.asked["chat"][0]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'}
    assert reply  # the backing model said what came of it


@pytest.mark.parametrize(
    ("route", "behaviour", "says"),
    [
        ("transcriptions", "fail", 'answered HTTP 503: {"error": {"message": "model not loaded"}}'),
        ("transcriptions", "garbage", "answered with something not JSON"),
        ("transcriptions", "hang", "did not answer within 0.5 s"),
        ("speech", "fail", "answered HTTP 503"),
        (
            "speech",
            "garbage",
            "answered text/html; charset=utf-8, not audio: <html>It works!</html>",
        ),
        ("speech", "hang", "did not answer within 0.5 s"),
        ("chat", "fail", "answered HTTP 503"),
        ("chat", "garbage", "answered text/html; charset=utf-8, not a stream"),
        ("chat", "hang", "did not answer within 0.5 s"),
    ],
)
async def test_a_failing_server_is_one_line_naming_the_step_and_the_server(
    stub: StubUpstreams, route: Any, behaviour: Any, says: str
) -> None:
    stub.behaviour[route] = behaviour
    upstream = Upstream(stub.base_url, "m", timeout=0.5)
    step, path = {
        "transcriptions": ("transcription", "/audio/transcriptions"),
        "speech": ("speech", "/audio/speech"),
        "chat": ("reply", "/chat/completions"),
    }[route]
    with pytest.raises(UpstreamError) as caught:
        if route == "transcriptions":
            recognizer = HttpRecognizer(upstream)
            try:
                await recognizer.transcribe(np.zeros(16000, dtype=np.int16))
            finally:
                await recognizer.aclose()
        elif route == "speech":
            synthesizer = HttpSynthesizer(upstream)
            try:
                await synthesizer.synthesize("Hello.")
            finally:
                await synthesizer.aclose()
        else:
            chat = ChatResponder(stub.base_url, timeout=0.5)
            try:
                _ = [c async for c in await chat.answer([Message("user", "hi")], "")]
            finally:
                await chat.aclose()
    message = str(caught.value)
    assert message.startswith(f"the {step} server {stub.base_url}{path} ")
    assert says in message and "\n" not in message
    assert caught.value.step == step


def test_the_command_line_names_each_server_and_reads_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from vivavoce.peer.cli import add_arguments, upstream_options

    monkeypatch.setenv("VIVAVOCE_SPEECH_API_KEY", "speech-key")
    monkeypatch.setenv("VIVAVOCE_RESPONDER_API_KEY", "old-name")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--transcribe-url", "http://127.0.0.1:8080/v1", "--speech-url", "http://127.0.0.1:8880/v1",
         "--speech-voice", "af_heart", "--responder", "http://127.0.0.1:11434/v1",
         "--chat-model", "qwen2.5", "--upstream-timeout", "5"]
    )  # fmt: skip
    options = upstream_options(args)
    assert options["transcribe"] == Upstream("http://127.0.0.1:8080/v1", "whisper-1", None, 5.0)
    assert options["speech"] == Upstream("http://127.0.0.1:8880/v1", "tts-1", "speech-key", 5.0)
    assert options["speech_voice"] == "af_heart"
    assert options["responder_url"] == "http://127.0.0.1:11434/v1"
    assert options["responder_model"] == "qwen2.5" and options["responder_api_key"] == "old-name"
    assert "speech-key" not in repr(options["speech"])  # never printed
    assert options["speculate"] is True  # replies are started ahead unless told not to
    assert upstream_options(parser.parse_args(["--no-speculate"]))["speculate"] is False


def test_the_embedded_peer_is_told_not_to_speculate_when_the_setting_says_so() -> None:
    from vivavoce.settings import LocalServicesSettings

    assert "--no-speculate" not in LocalServicesSettings().peer_arguments()
    assert LocalServicesSettings(speculate=False).peer_arguments() == ["--no-speculate"]
    chat = LocalServicesSettings(chat_url="http://127.0.0.1:11434/v1", speculate=False)
    assert chat.peer_arguments()[-1] == "--no-speculate"


async def _serve(*routes: tuple[str, Any]) -> web.AppRunner:
    app = web.Application()
    for path, handler in routes:
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _url(runner: web.AppRunner) -> str:
    return f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
