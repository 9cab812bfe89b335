"""The peer's non-realtime OpenAI routes, backed by the same responder, flite and pocketsphinx.

* ``POST /v1/chat/completions`` — JSON, or ``stream: true`` as server-sent events ending with
  ``data: [DONE]`` (``stream_options.include_usage`` adds a usage chunk).
* ``POST /v1/audio/speech`` — ``response_format`` ``wav`` (default here; OpenAI's default mp3
  is not offered) or ``pcm`` (24 kHz s16le mono, as OpenAI sends it).
* ``POST /v1/audio/transcriptions`` — multipart ``file`` (any format av decodes) + ``model``,
  optional ``language`` (English only: others are recognized as English), ``response_format``
  ``json`` | ``text`` | ``verbose_json``, and the words to expect as ``keywords[]`` or a
  ``prompt`` (taught to the recognizer, as a realtime session's). Files over the upload
  limit → 413.
* ``GET /v1/models`` — the models the peer answers to (any name is accepted anyway).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from ..realtime import events as ev
from ..rtc.tracks import wav_bytes
from .audio import AudioDecodeError, decode_audio, resample
from .errors import ApiError
from .http import cors_headers, form_body, form_text, json_body, peer_of
from .items import Message, Role, ToolCall
from .lexicon import session_words
from .models import ALL_MODELS, check_model
from .responders import ResponderError
from .tts import RATE as TTS_RATE
from .tts import SynthesisError
from .upstreams import UpstreamError

log = logging.getLogger(__name__)

PCM_RATE = 24000
MAX_SPEECH_INPUT = 4096


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(str(p.get("text", "")) for p in parts)
    return ""


def _chat_input(body: dict[str, Any]) -> tuple[list[Message], str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "'messages' must be a non-empty array.", param="messages", code="invalid_value"
        )
    if not isinstance(body.get("model"), str):
        raise ApiError(
            400,
            "you must provide a model parameter",
            param="model",
            code="missing_required_parameter",
        )
    turns: list[Message] = []
    system: list[str] = []
    names: dict[str, str] = {}  # tool_call_id → function name
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(
                400,
                f"messages[{i}] must be an object with a role.",
                param=f"messages[{i}]",
                code="invalid_value",
            )
        role, text = m["role"], _text_of(m.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        elif role == "tool":
            name = names.get(str(m.get("tool_call_id")))
            call_id = str(m.get("tool_call_id") or "")
            turns.append(Message("tool", text, name=name, call_id=call_id))
        elif role in ("user", "assistant"):
            r: Role = "user" if role == "user" else "assistant"
            if text:
                turns.append(Message(r, text))
            for call in m.get("tool_calls") or [] if r == "assistant" else []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    names[str(call.get("id"))] = function["name"]
                    arguments = str(function.get("arguments") or "")
                    tool = ToolCall(function["name"], arguments, str(call.get("id")))
                    turns.append(Message("assistant", "", call=tool))
    return turns, "\n".join(system)


def _declared_tools(body: dict[str, Any]) -> list[str]:
    """Names of the functions the request declares (none with ``tool_choice: "none"``)."""
    tools = body.get("tools")
    if body.get("tool_choice") == "none" or not isinstance(tools, list):
        return []
    names = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def _is_function(tool: Any) -> bool:
    return isinstance(tool, dict) and isinstance(tool.get("function"), dict)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    peer = peer_of(request)
    peer.auth(request)
    body = await json_body(request)
    turns, instructions = _chat_input(body)
    model = str(body["model"])
    check_model(model, "chat")
    cid = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    prompt_tokens = sum(len(m.text.split()) for m in turns) + len(instructions.split())
    tools = _declared_tools(body)
    specs = [t["function"] for t in body.get("tools") or [] if tools and _is_function(t)]
    replies = await peer.services.responder.answer(turns, instructions, tools, specs)
    if isinstance(replies, ToolCall):
        common = {"id": cid, "created": created, "model": model}
        return await _tool_call_reply(request, body, replies, common)
    if not body.get("stream"):
        try:
            text = "".join([chunk async for chunk in replies])
        except (ResponderError, UpstreamError) as exc:
            raise ApiError(502, str(exc), type="server_error") from exc
        completion = len(text.split())
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion,
                    "total_tokens": prompt_tokens + completion,
                },
            }
        )

    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **cors_headers(request),
        }
    )
    await resp.prepare(request)

    async def event(choices: list[dict[str, Any]], **extra: Any) -> None:
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    text = ""
    await event([choice({"role": "assistant", "content": ""})])
    try:
        async for chunk in replies:
            text += chunk
            await event([choice({"content": chunk})])
    except (ResponderError, UpstreamError) as exc:
        err = {"error": {"message": str(exc), "type": "server_error", "param": None, "code": None}}
        await resp.write(f"data: {json.dumps(err)}\n\n".encode())
        return resp
    await event([choice({}, "stop")])
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        completion = len(text.split())
        await event(
            [],
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
            },
        )
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def _tool_call_reply(
    request: web.Request, body: dict[str, Any], call: ToolCall, common: dict[str, Any]
) -> web.StreamResponse:
    """A completion calling a function instead of writing text (finish_reason ``tool_calls``).

    ``common``: the id, created and model fields every chunk carries.
    """
    call_id = "call_" + secrets.token_hex(12)
    function = {"name": call.name, "arguments": call.arguments}
    if not body.get("stream"):
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": function}],
        }
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        return web.json_response({**common, "object": "chat.completion", "choices": [choice]})
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **cors_headers(request),
        }
    )
    await resp.prepare(request)
    named = {"name": call.name, "arguments": ""}
    opening = {"index": 0, "id": call_id, "type": "function", "function": named}
    deltas: list[tuple[dict[str, Any], str | None]] = [
        ({"role": "assistant", "content": None, "tool_calls": [opening]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": call.arguments}}]}, None),
        ({}, "tool_calls"),
    ]
    for delta, finish in deltas:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = {**common, "object": "chat.completion.chunk", "choices": [choice]}
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def speech(request: web.Request) -> web.Response:
    peer = peer_of(request)
    peer.auth(request)
    body = await json_body(request)
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(
            400, "'input' must be a non-empty string.", param="input", code="invalid_value"
        )
    if len(text) > MAX_SPEECH_INPUT:
        raise ApiError(
            400,
            f"'input' is longer than {MAX_SPEECH_INPUT} characters.",
            param="input",
            code="string_above_max_length",
        )
    model = body.get("model")
    check_model(model if isinstance(model, str) else None, "speech")
    fmt = body.get("response_format") or "wav"
    if fmt not in ("wav", "pcm"):
        raise ApiError(
            400,
            f"response_format '{fmt}' is not supported by the local peer; use 'wav' or 'pcm'.",
            param="response_format",
            code="invalid_value",
        )
    if body.get("stream_format") not in (None, "audio"):
        raise ApiError(
            400,
            "Only stream_format 'audio' is supported.",
            param="stream_format",
            code="invalid_value",
        )
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        raise ApiError(
            400, "'speed' must be between 0.25 and 4.0.", param="speed", code="invalid_value"
        )
    voice = body.get("voice")
    try:
        pcm = await peer.services.synthesizer.synthesize(
            text, voice if isinstance(voice, str) else None, float(speed)
        )
    except SynthesisError as exc:
        raise ApiError(500, str(exc), type="server_error") from exc
    if fmt == "pcm":
        out = await asyncio.to_thread(resample, pcm, TTS_RATE, PCM_RATE)
        return web.Response(body=out.tobytes(), content_type="audio/pcm")
    return web.Response(body=wav_bytes(pcm, TTS_RATE), content_type="audio/wav")


async def transcriptions(request: web.Request) -> web.Response:
    peer = peer_of(request)
    peer.auth(request)
    if request.content_type != "multipart/form-data":
        raise ApiError(
            400,
            "Post the audio as multipart/form-data with a 'file' field.",
            code="unsupported_content_type",
        )
    form = await form_body(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise ApiError(
            400,
            "The form needs a 'file' field holding the audio.",
            param="file",
            code="missing_required_parameter",
        )
    if not form_text(form.get("model")):
        raise ApiError(
            400,
            "you must provide a model parameter",
            param="model",
            code="missing_required_parameter",
        )
    check_model(form_text(form.get("model")), "transcription")
    data = upload.file.read()
    limit = peer.options.max_upload_bytes
    if len(data) > limit:
        raise ApiError(
            413,
            f"The file is too large; the limit is {limit // (1024 * 1024)} MiB.",
            param="file",
            code="file_too_large",
        )
    fmt = form_text(form.get("response_format")) or "json"
    if fmt not in ("json", "text", "verbose_json"):
        raise ApiError(
            400,
            f"response_format '{fmt}' is not supported by the local peer; use "
            "json, text or verbose_json.",
            param="response_format",
            code="invalid_value",
        )
    language = form_text(form.get("language"))
    if language and not language.lower().startswith("en"):
        log.info("transcription language %r requested; recognizing English", language)
    try:
        pcm = await asyncio.to_thread(decode_audio, data, 16000)
    except AudioDecodeError as exc:
        raise ApiError(
            400, f"Invalid file format: {exc}", param="file", code="invalid_value"
        ) from exc
    # The words to expect, as in a realtime session's transcription (keywords, else the prompt).
    words = session_words(
        ev.Transcription(
            prompt=form_text(form.get("prompt")) or None,
            keywords=[form_text(k) for k in form.getall("keywords[]", [])] or None,
        )
    )
    text = await peer.services.recognizer.transcribe(pcm, words)
    seconds = round(pcm.size / 16000, 3)
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if fmt == "verbose_json":
        return web.json_response(
            {
                "task": "transcribe",
                "language": "english",
                "duration": seconds,
                "text": text,
                "segments": [],
                "usage": {"type": "duration", "seconds": seconds},
            }
        )
    return web.json_response({"text": text, "usage": {"type": "duration", "seconds": seconds}})


async def models(request: web.Request) -> web.Response:
    peer_of(request).auth(request)
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "vivavoce"}
                for m in ALL_MODELS
            ],
        }
    )


#: (method, path, handler) of this module's routes; ``app.create_app`` adds them.
ROUTES = [
    ("POST", "/v1/chat/completions", chat_completions),
    ("POST", "/v1/audio/speech", speech),
    ("POST", "/v1/audio/transcriptions", transcriptions),
    ("GET", "/v1/models", models),
]
