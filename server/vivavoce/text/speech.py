"""Text mode's voice: text-to-speech for replies, transcription for push-to-talk input.

:class:`Speech` calls ``POST /audio/speech`` (``response_format: pcm``: 24 kHz s16le mono)
and ``POST /audio/transcriptions`` (a WAV upload) on the same server as the chat, with the same
typed errors as every other HTTP step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from ..errors import ProtocolError, StepTimeout
from ..realtime.signaling import error_from_response
from ..rtc.tracks import Pcm, wav_bytes
from .chat import UsageCallback

#: ``/audio/speech`` with ``response_format: pcm`` is 24 kHz mono s16le.
SPEECH_RATE = 24000


class Speech:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        speech_model: str,
        timeout: float = 30.0,
        on_usage: UsageCallback | None = None,
    ) -> None:
        self._http = http
        self._on_usage = on_usage
        self.speech_model = speech_model
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout

    async def synthesize(self, text: str, voice: str) -> Pcm:
        """Speech for ``text`` at :data:`SPEECH_RATE`."""
        body = {"model": self.speech_model, "input": text, "voice": voice, "response_format": "pcm"}
        response = await self._post("speaking the reply", "/audio/speech", json=body)
        data = response.content
        return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)

    async def transcribe(
        self,
        samples: Pcm,
        rate: int,
        model: str,
        language: str | None = None,
        *,
        prompt: str | None = None,
        keywords: Sequence[str] | None = None,
    ) -> str:
        """The text of recorded speech; ``prompt`` or ``keywords``: the words to expect (the
        code in front of the user), as the openai SDK sends them (``keywords[]``)."""
        files = {"file": ("speech.wav", wav_bytes(samples, rate), "audio/wav")}
        data: dict[str, Any] = {"model": model, "response_format": "json"}
        if language:
            data["language"] = language
        if prompt:
            data["prompt"] = prompt
        if keywords:
            data["keywords[]"] = list(keywords)
        response = await self._post(
            "transcribing your speech", "/audio/transcriptions", files=files, data=data
        )
        try:
            answer = response.json()
            text = str(answer["text"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError("the transcription answer has no text") from exc
        if self._on_usage is not None and isinstance(answer.get("usage"), dict):
            self._on_usage("transcription", model, answer["usage"])
        return text

    async def _post(self, step: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.post(
                f"{self._base}{path}", headers=self._headers, timeout=self._timeout, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise StepTimeout(step, self._timeout) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"{step} failed: {type(exc).__name__}") from exc
        if not response.is_success:
            raise error_from_response(response, step)
        return response
