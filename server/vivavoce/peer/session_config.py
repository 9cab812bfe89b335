"""The session settings a peer call runs with: the defaults, and how a client's update merges in.

Used by the HTTP routes (a session posted with the offer or minted into a key) and by the
session's ``session.update``: both merge a partial session into the current one the same way.
"""

from __future__ import annotations

from typing import Any

from ..realtime import events as ev

#: The model of a session that names none (the agents SDKs' default).
DEFAULT_MODEL = "gpt-realtime-2.1"


def default_session(model: str | None = None) -> ev.Session:
    """The settings a new call starts with (before the client's own)."""
    return ev.Session(
        type="realtime",
        id=ev.new_id("sess"),
        object="realtime.session",
        model=model or DEFAULT_MODEL,
        instructions="",
        output_modalities=["audio"],
        audio=ev.SessionAudio(
            input=ev.AudioInput(
                format=ev.AudioFormat(type="audio/pcm", rate=24000),
                turn_detection=ev.ServerVad(),
            ),
            output=ev.AudioOutput(
                format=ev.AudioFormat(type="audio/pcm", rate=24000), voice="alloy", speed=1.0
            ),
        ),
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
    )


#: Top-level keys only the flat beta session has.
BETA_SESSION_KEYS = frozenset(
    {
        "voice",
        "modalities",
        "turn_detection",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "max_response_output_tokens",
    }
)
#: api.openai.com's answer to the beta shape, since the beta API was shut down.
BETA_DISABLED = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)


def is_beta_shape(raw: dict[str, Any]) -> bool:
    """A session in the flat beta shape (no GA ``type``, or beta-only keys)."""
    return raw.get("type") not in ("realtime", "transcription") or bool(
        BETA_SESSION_KEYS & raw.keys()
    )


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def session_patch(raw: dict[str, Any], parsed: ev.Session) -> dict[str, Any]:
    """The fields a ``session.update`` really set.

    Works around ``parse_client_event``: its session always has ``audio.input.turn_detection``
    set (None) even when the client did not send it, which would switch VAD off on any
    partial audio update. Only keep turn_detection when the raw message had it.
    """
    patch = parsed.model_dump(exclude_unset=True)
    is_ga = "audio" in raw or raw.get("type") in ("realtime", "transcription")
    if is_ga:
        audio = raw.get("audio")
        sent = (
            isinstance(audio, dict)
            and isinstance(audio.get("input"), dict)
            and "turn_detection" in audio["input"]
        )
    else:
        sent = "turn_detection" in raw
    if not sent:
        inp = patch.get("audio", {}).get("input")
        if isinstance(inp, dict):
            inp.pop("turn_detection", None)
    return patch


def merge_session(current: ev.Session, patch: dict[str, Any]) -> ev.Session:
    """``current`` with ``patch`` applied (nested objects merge, other values replace)."""
    patch = {k: v for k, v in patch.items() if k not in ("id", "object", "model")}
    merged = _merge(current.model_dump(exclude_none=False), patch)
    for direction in ("input", "output"):
        fmt = patch.get("audio", {}).get(direction, {}).get("format")
        if isinstance(fmt, dict) and "type" in fmt:
            # A format is replaced whole; G.711 has no rate (8 kHz, and no such field).
            rate = fmt.get("rate", 24000) if fmt["type"] == "audio/pcm" else None
            target = (merged.get("audio") or {}).get(direction)
            if isinstance(target, dict):
                target["format"] = {**fmt, "rate": rate}
    td = patch.get("audio", {}).get("input", {}).get("turn_detection", "unset")
    if isinstance(td, dict) and "type" in td:
        # A new type replaces the old settings instead of merging into them.
        merged["audio"]["input"]["turn_detection"] = td
    return ev.Session.model_validate(merged)
