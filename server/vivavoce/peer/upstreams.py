"""Local speech and language servers behind the peer: each step of a turn through an HTTP route.

``vivavoce peer --transcribe-url … --speech-url … --chat-url …`` puts a realtime conversation
together from servers that each speak one OpenAI-compatible route (whisper.cpp's server or
speaches for ``/audio/transcriptions``, Kokoro-FastAPI or speaches for ``/audio/speech``,
Ollama or llama.cpp for ``/chat/completions``). Each one is optional; the built-in pocketsphinx,
flite and responder stay the defaults.

* :class:`HttpRecognizer` posts a finished turn as a WAV file (these APIs take whole files, so
  it gets the audio at the end of the turn: its :meth:`~HttpRecognizer.stream` is a
  :class:`WholeTurn`) with the session's vocabulary as the ``prompt``.
* :class:`HttpSynthesizer` asks for raw PCM (``response_format: "pcm"``: 24 kHz s16le mono, as
  OpenAI sends it) and hands on the audio as it arrives, so the caller hears the first words
  before the server has finished the sentence; a WAV answer is accepted as a whole.
* The chat step is :class:`~vivavoce.peer.responders.ChatResponder` (streamed, tools passed
  through).

Every failure of an upstream (refused, down, too slow, an answer that is not what the route
promises) is an :class:`UpstreamError` that names the step and the URL in one line. The session
turns it into one ``error`` event; the call stays up and the next turn tries again. Each request
has a time limit (:data:`TIMEOUT`, ``--upstream-timeout``); for streamed answers it bounds the
wait for each piece, so a long reply that keeps coming is not cut off.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx

    from ..realtime import events as ev
    from ..rtc.tracks import Pcm

log = logging.getLogger(__name__)

#: Seconds an upstream may take to answer (to send each piece, when streamed).
TIMEOUT = 20.0
#: OpenAI's raw ``pcm`` speech format: 24 kHz, 16-bit little-endian, mono.
PCM_RATE = 24000
#: What the peer's recognizer and synthesizer work in.
RATE = 16000
#: Audio handed on while a sentence is still being synthesized, at least this much at a time.
CHUNK_SAMPLES = RATE // 10
#: How much of an upstream's error body goes into the one-line message.
DETAIL_CHARS = 200

Step = Literal["transcription", "speech", "reply"]


class UpstreamError(RuntimeError):
    """An upstream failed one step of a turn; the message names both, in one line."""

    def __init__(self, step: Step, url: str, problem: str) -> None:
        super().__init__(f"the {step} server {url} {problem}")
        self.step, self.url = step, url


def upstream_error(exc: UpstreamError) -> ev.ErrorDetail:
    """The ``error`` event's detail that tells the client of a failed upstream."""
    from ..realtime import events as ev

    return ev.ErrorDetail(type="server_error", code="upstream_error", message=str(exc))


@dataclass(frozen=True)
class Upstream:
    """One OpenAI-compatible server: where (base ``…/v1`` or the full route), which model, key."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never printed
    timeout: float = TIMEOUT

    def route(self, path: str) -> str:
        """The full URL of ``path`` (``/audio/speech``…), unless ``url`` already names it."""
        url = self.url.rstrip("/")
        return url if url.endswith(path) else url + path

    def client(self) -> httpx.AsyncClient:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.AsyncClient(headers=headers, timeout=self.timeout)


def problem_of(exc: Exception, timeout: float) -> str:
    """What went wrong with a request, in words (never the key: httpx does not put it there)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"did not answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot be reached (is it running?)"
    return f"failed: {type(exc).__name__}: {exc}"


async def check_status(step: Step, url: str, response: httpx.Response) -> None:
    """Raise :class:`UpstreamError` for an HTTP error status, with the start of its body."""
    if response.status_code < 400:
        return
    body = (await response.aread()).decode(errors="replace")
    detail = " ".join(body.split())[:DETAIL_CHARS]
    raise UpstreamError(step, url, f"answered HTTP {response.status_code}: {detail}")


def audio_type(kind: str) -> bool:
    """Whether a Content-Type says audio (raw PCM may come as ``application/octet-stream``)."""
    return kind.startswith("audio/") or kind.startswith("application/octet-stream")


class HttpRecognizer:
    """Recognition through ``POST /audio/transcriptions`` (whisper.cpp server, speaches…)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.url = upstream.route("/audio/transcriptions")
        self._client = upstream.client()

    async def transcribe(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        """The words of a finished turn; ``words`` (the vocabulary) go in the ``prompt``."""
        import httpx

        from ..rtc.tracks import wav_bytes

        if pcm.size < RATE // 10:
            return ""
        data: dict[str, str] = {"model": self.upstream.model, "response_format": "json"}
        if words:
            data["prompt"] = ", ".join(words)
        files = {"file": ("turn.wav", wav_bytes(pcm, RATE), "audio/wav")}
        try:
            response = await self._client.post(self.url, data=data, files=files)
            await check_status("transcription", self.url, response)
            answer = response.json()
        except UpstreamError:
            raise
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "transcription", self.url, problem_of(exc, self.upstream.timeout)
            ) from exc
        except ValueError as exc:
            raise UpstreamError(
                "transcription", self.url, "answered with something not JSON"
            ) from exc
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            raise UpstreamError("transcription", self.url, "answered JSON without a 'text' string")
        return " ".join(text.split())

    def stream(self, words: tuple[str, ...] = (), kind: str = "audio/pcm") -> WholeTurn:
        """A turn, posted whole at its end (the route takes files, not streams)."""
        return WholeTurn(self, words)

    async def warm_up(self) -> None:
        return None  # nothing to load here; the upstream loads its own model

    async def aclose(self) -> None:
        await self._client.aclose()


class WholeTurn:
    """The :class:`~.services.Utterance` of a recognizer that takes only whole clips (an upstream's
    ``/audio/transcriptions``): it ignores the audio as it comes and transcribes the turn at
    :meth:`finish`."""

    def __init__(self, recognizer: HttpRecognizer, words: tuple[str, ...] = ()) -> None:
        self.recognizer = recognizer
        self.words = words

    def feed(self, pcm: Pcm) -> None:
        return None

    async def finish(self, audio: Pcm) -> str:
        return await self.recognizer.transcribe(audio, self.words)

    def drop(self) -> None:
        return None


class HttpSynthesizer:
    """Speech through ``POST /audio/speech`` (Kokoro-FastAPI, speaches…), streamed as it comes.

    ``voice``: the voice to ask for whatever the session chose (local servers name their voices
    their own way, e.g. Kokoro's ``af_heart``); None passes the session's voice on.
    """

    def __init__(self, upstream: Upstream, voice: str | None = None) -> None:
        self.upstream = upstream
        self.voice = voice
        self.url = upstream.route("/audio/speech")
        self._client = upstream.client()

    async def synthesize(self, text: str, voice: str | None = None, speed: float = 1.0) -> Pcm:
        """All of the speech for ``text`` (16 kHz mono int16)."""
        import numpy as np

        chunks = [pcm async for pcm in self.stream(text, voice, speed)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    async def stream(
        self, text: str, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[Pcm, None]:
        """The speech for ``text`` in pieces of ≥ 100 ms (16 kHz), each as soon as it arrived."""
        import httpx
        import numpy as np

        from ..rtc.tracks import Resampler

        text = " ".join(text.split())
        if not text:
            return
        body: dict[str, Any] = {
            "model": self.upstream.model,
            "input": text,
            "voice": self.voice or voice or "alloy",
            "response_format": "pcm",
            "speed": speed,
        }
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                await check_status("speech", self.url, response)
                kind = response.headers.get("content-type", "")
                if "wav" in kind or not (audio_type(kind) or not kind):
                    pcm = self._whole(await response.aread(), kind)
                    if pcm.size:
                        yield pcm
                    return
                pieces = response.aiter_bytes()
                first = b""
                async for data in pieces:
                    first += data
                    if len(first) >= 4:
                        break
                if first.startswith(b"RIFF"):  # a WAV although pcm was asked for: whole
                    pcm = self._whole(first + b"".join([c async for c in pieces]), "audio/wav")
                    if pcm.size:
                        yield pcm
                    return
                resample = Resampler(PCM_RATE, RATE)
                pending, odd = np.zeros(0, dtype=np.int16), b""
                data = first
                while True:
                    data, odd = _even(odd + data)
                    if data:
                        pcm = resample(np.frombuffer(data, "<i2"))
                        pending = np.concatenate([pending, pcm])
                    if pending.size >= CHUNK_SAMPLES:
                        yield pending
                        pending = np.zeros(0, dtype=np.int16)
                    try:
                        data = await anext(pieces)
                    except StopAsyncIteration:
                        break
                if pending.size:
                    yield pending
        except UpstreamError:
            raise
        except httpx.HTTPError as exc:
            raise UpstreamError("speech", self.url, problem_of(exc, self.upstream.timeout)) from exc

    def _whole(self, data: bytes, kind: str) -> Pcm:
        from ..rtc.tracks import Resampler
        from .tts import SynthesisError, parse_wav

        if not data.startswith(b"RIFF"):
            shown = " ".join(data[:DETAIL_CHARS].decode(errors="replace").split())
            raise UpstreamError(
                "speech", self.url, f"answered {kind or 'no type'}, not audio: {shown}"
            )
        try:
            pcm, rate = parse_wav(data)
        except (wave.Error, EOFError, ValueError, SynthesisError) as exc:
            raise UpstreamError(
                "speech", self.url, f"answered a WAV it cannot read: {exc}"
            ) from exc
        return Resampler(rate, RATE)(pcm) if rate != RATE else pcm

    async def aclose(self) -> None:
        await self._client.aclose()


def _even(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut to whole 16-bit samples, and the odd byte left over."""
    cut = len(data) - len(data) % 2
    return data[:cut], data[cut:]


def chat_tools(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Functions (``{name, description, parameters}``) as chat completions ``tools``."""
    out = []
    for spec in specs:
        if not isinstance(spec.get("name"), str):
            continue
        function: dict[str, Any] = {
            "name": spec["name"],
            "parameters": spec.get("parameters") or {"type": "object", "properties": {}},
        }
        if spec.get("description"):
            function["description"] = spec["description"]
        out.append({"type": "function", "function": function})
    return out
