"""The model names the local peer answers to, and OpenAI's own errors for the others.

A client that asks for a model the peer does not know gets the answer the real API gives, so
that "bad model" handling can be tested offline.
"""

from __future__ import annotations

from typing import Literal

from .errors import ApiError

Kind = Literal["realtime", "chat", "speech", "transcription"]

MODELS: dict[Kind, tuple[str, ...]] = {
    "realtime": (
        "gpt-realtime",
        "gpt-realtime-mini",
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime-preview",
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
