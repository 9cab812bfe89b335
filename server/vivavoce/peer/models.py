"""The model names the local peer answers to, and OpenAI's own errors for the others.

A client that asks for a model the peer does not know gets the answer the real API gives, so
that "bad model" handling can be tested offline.
"""

from __future__ import annotations

from typing import Literal

from .errors import ApiError

Kind = Literal["realtime", "chat", "speech", "transcription"]

MODELS: dict[Kind, tuple[str, ...]] = {
    # Every name of the SDK's ``RealtimeSessionCreateRequest.model`` (openai 3.57);
    # tests/unit/test_peer_models.py fails when the SDK lists one that is missing here.
    "realtime": (
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-2",
        "gpt-realtime-1.5",
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-10-06",
        "gpt-realtime-mini-2025-12-15",
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2024-10-01",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview",
        "gpt-4o-mini-realtime-preview-2024-12-17",
        "gpt-audio-1.5",
        "gpt-audio-mini",
        "gpt-audio-mini-2025-10-06",
        "gpt-audio-mini-2025-12-15",
    ),
    "chat": (
        "gpt-5.4-mini",
        "gpt-5.5",
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-5",
        "gpt-5-mini",
    ),
    "speech": ("gpt-4o-mini-tts", "tts-1", "tts-1-hd"),
    "transcription": (
        "gpt-transcribe",
        "gpt-live-transcribe",
        "gpt-realtime-whisper",
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
    ),
}
ALL_MODELS: tuple[str, ...] = tuple(m for names in MODELS.values() for m in names)
#: The transcription models whose usage the API reports in tokens (the SDK's
#: ``UsageTranscriptTextUsageTokens``: audio and prompt in, transcript out); the others report
#: the seconds transcribed (``UsageTranscriptTextUsageDuration``), as they are billed.
BILLED_BY_TOKENS: frozenset[str] = frozenset({"gpt-4o-transcribe", "gpt-4o-mini-transcribe"})


def check_model(model: str | None, kind: Kind, *, param: str = "model") -> None:
    """Raise the API's error when ``model`` is not one the peer serves for ``kind``."""
    if model is None or model in MODELS[kind]:
        return
    if kind == "realtime":
        supported = ", ".join(f"'{m}'" for m in MODELS[kind])
        raise ApiError(
            400,
            f"Invalid value: '{model}'. Supported values are: {supported}.",
            param=param,
            code="invalid_value",
        )
    raise ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param=param,
        code="model_not_found",
    )
