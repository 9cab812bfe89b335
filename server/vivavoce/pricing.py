"""What the models cost: the price table and the cost of one usage report.

Prices are USD per million tokens, per kind of token, as the API bills them (text, audio and
image input, each also cached, and text and audio output), or USD per minute of audio for the
transcription models billed by duration. :data:`DEFAULT_PRICES` holds the published prices;
the ``prices`` setting overrides any of them, and adds models (a new release, another
provider): ``{"my-model": {"textIn": 1.0, "textOut": 4.0}}``.

:func:`response_cost` reads a ``response.done`` ``usage`` (the SDK's
``RealtimeResponseUsage``: cached tokens are a subset of the input tokens),
:func:`transcription_cost` the ``usage`` of a finished input transcription
(``{"type": "duration", "seconds"}`` or ``{"type": "tokens", ...}``), and :func:`chat_cost` a
chat completion's ``usage`` (``prompt_tokens_details.cached_tokens`` a subset of the prompt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_CHECKED",
    "Price",
    "Tokens",
    "chat_cost",
    "price_for",
    "response_cost",
    "transcription_cost",
    "usd",
]

#: When :data:`DEFAULT_PRICES` were read from the providers' model pages.
PRICES_CHECKED = "2026-12-05"


class Price(BaseModel):
    """One model's prices (USD per 1M tokens; ``transcription_per_minute`` USD per minute).

    A field left out is unknown: it costs nothing in the totals (say so rather than guess)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    text_in: float | None = Field(None, ge=0)
    cached_text_in: float | None = Field(None, ge=0)
    audio_in: float | None = Field(None, ge=0)
    cached_audio_in: float | None = Field(None, ge=0)
    image_in: float | None = Field(None, ge=0)
    cached_image_in: float | None = Field(None, ge=0)
    text_out: float | None = Field(None, ge=0)
    audio_out: float | None = Field(None, ge=0)
    transcription_per_minute: float | None = Field(None, ge=0)

    def over(self, base: Price | None) -> Price:
        """This (partial) table over ``base``: the fields set here win."""
        if base is None:
            return self
        return base.model_copy(update=self.model_dump(exclude_none=True))


def _realtime(
    text: tuple[float, float, float],
    audio: tuple[float, float, float],
    image: tuple[float, float] | None = None,
) -> Price:
    return Price(
        text_in=text[0],
        cached_text_in=text[1],
        text_out=text[2],
        audio_in=audio[0],
        cached_audio_in=audio[1],
        audio_out=audio[2],
        image_in=image[0] if image else None,
        cached_image_in=image[1] if image else None,
    )


#: Published prices (checked :data:`PRICES_CHECKED` on developers.openai.com/api/docs/models/…,
#: the model pages). Two are read elsewhere, since their own pages were not reachable from
#: here: gpt-5.4-mini from OpenAI's announcement as quoted by several model catalogues, and
#: the first GA models gpt-realtime and gpt-realtime-mini from model catalogues (truefoundry's
#: ``providers/openai/*.yaml``), matching the newer pages' "quick comparison" rows (the mini's
#: text input) and OpenAI's GA announcement (audio $32/$64, cached $0.40). Text mode's HTTP
#: voice (gpt-4o-mini-tts, tts-1) is not counted: ``/audio/speech`` reports no usage.
DEFAULT_PRICES: dict[str, Price] = {
    # realtime models: text (in, cached in, out), audio (in, cached in, out), image (in, cached)
    "gpt-realtime-2.1": _realtime((4.0, 0.40, 24.0), (32.0, 0.40, 64.0), (5.0, 0.50)),
    "gpt-realtime-2.1-mini": _realtime((0.60, 0.06, 2.40), (10.0, 0.30, 20.0), (0.80, 0.08)),
    "gpt-realtime-2": _realtime((4.0, 0.40, 24.0), (32.0, 0.40, 64.0), (5.0, 0.50)),
    "gpt-realtime-1.5": _realtime((4.0, 0.40, 16.0), (32.0, 0.40, 64.0), (5.0, 0.50)),
    "gpt-realtime": _realtime((4.0, 0.40, 16.0), (32.0, 0.40, 64.0), (5.0, 0.50)),
    "gpt-realtime-mini": _realtime((0.60, 0.06, 2.40), (10.0, 0.30, 20.0), (0.80, 0.08)),
    "gpt-4o-realtime-preview": _realtime((5.0, 2.50, 20.0), (40.0, 2.50, 80.0)),
    "gpt-4o-mini-realtime-preview": _realtime((0.60, 0.30, 2.40), (10.0, 0.30, 20.0)),
    # chat models of text mode
    "gpt-5.4-mini": Price(text_in=0.75, cached_text_in=0.075, text_out=4.50),
    # transcription: by the minute, or by the token (audio in, text out)
    "gpt-transcribe": Price(transcription_per_minute=0.0045),
    "gpt-live-transcribe": Price(transcription_per_minute=0.017),
    "gpt-realtime-whisper": Price(transcription_per_minute=0.017),
    "gpt-4o-transcribe": Price(audio_in=2.50, text_out=10.0),
    "gpt-4o-mini-transcribe": Price(audio_in=1.25, text_out=5.0),
}


def usd(amount: float) -> str:
    """ "$0.012", "$1.250": three decimals; five under a tenth of a cent ("$0.00020")."""
    if 0 < amount < 0.001:
        return f"${amount:.5f}"
    return f"${amount:.3f}"


_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def price_for(model: str, overrides: dict[str, Price] | None = None) -> Price | None:
    """The prices of ``model`` (a dated snapshot falls back to its model), the setting's
    fields over the published ones; None when neither knows the model."""
    overrides = overrides or {}
    for name in (model, _SNAPSHOT.sub("", model)):
        base = DEFAULT_PRICES.get(name)
        if name in overrides:
            return overrides[name].over(base)
        if base is not None:
            return base
    return None


@dataclass
class Tokens:
    """Token counts and cost: of one report, or summed (``+=``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    #: Seconds of the user's speech the server heard, and of the assistant's voice received.
    audio_input_seconds: float = 0.0
    audio_output_seconds: float = 0.0
    cost_usd: float = 0.0
    #: Some usage came from a model with no known price (its cost is counted as 0).
    unpriced: bool = False

    def __iadd__(self, other: Tokens) -> Tokens:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.audio_input_seconds += other.audio_input_seconds
        self.audio_output_seconds += other.audio_output_seconds
        self.cost_usd += other.cost_usd
        self.unpriced = self.unpriced or other.unpriced
        return self


def _int(data: Any, *path: str) -> int:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return int(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else 0


def _usd(tokens: int, per_million: float | None) -> float:
    return tokens * (per_million or 0.0) / 1_000_000


def response_cost(usage: Any, price: Price | None) -> Tokens:
    """The tokens and cost of one ``response.done`` ``usage``.

    Cached tokens are part of ``input_tokens`` (billed at the cached price instead); a report
    with ``cached_tokens`` but no per-kind split counts them as text."""
    if not isinstance(usage, dict):
        return Tokens()
    text = _int(usage, "input_token_details", "text_tokens")
    audio = _int(usage, "input_token_details", "audio_tokens")
    image = _int(usage, "input_token_details", "image_tokens")
    cached = _int(usage, "input_token_details", "cached_tokens")
    details = "input_token_details", "cached_tokens_details"
    c_text = _int(usage, *details, "text_tokens")
    c_audio = _int(usage, *details, "audio_tokens")
    c_image = _int(usage, *details, "image_tokens")
    if cached and not (c_text or c_audio or c_image):
        c_text = min(cached, text)
    out_text = _int(usage, "output_token_details", "text_tokens")
    out_audio = _int(usage, "output_token_details", "audio_tokens")
    total_in = _int(usage, "input_tokens") or text + audio + image
    total_out = _int(usage, "output_tokens") or out_text + out_audio
    if price is None:
        return Tokens(total_in, total_out, unpriced=total_in + total_out > 0)
    p = price
    cost = (
        _usd(max(0, text - c_text), p.text_in)
        + _usd(c_text, p.cached_text_in if p.cached_text_in is not None else p.text_in)
        + _usd(max(0, audio - c_audio), p.audio_in)
        + _usd(c_audio, p.cached_audio_in if p.cached_audio_in is not None else p.audio_in)
        + _usd(max(0, image - c_image), p.image_in)
        + _usd(c_image, p.cached_image_in if p.cached_image_in is not None else p.image_in)
        + _usd(out_text, p.text_out)
        + _usd(out_audio, p.audio_out)
    )
    return Tokens(total_in, total_out, cost_usd=cost)


def transcription_cost(usage: Any, price: Price | None) -> Tokens:
    """The cost of one transcription's ``usage``: by duration or by tokens."""
    if not isinstance(usage, dict):
        return Tokens()
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
        per_minute = price.transcription_per_minute if price is not None else None
        if per_minute is None:
            return Tokens(unpriced=seconds > 0)
        return Tokens(cost_usd=seconds / 60 * per_minute)
    audio = _int(usage, "input_token_details", "audio_tokens")
    text_in = _int(usage, "input_token_details", "text_tokens")
    total_in = _int(usage, "input_tokens") or audio + text_in
    if not (audio or text_in):
        audio = total_in  # no split: a transcription's input is its audio
    out = _int(usage, "output_tokens")
    if price is None:
        return Tokens(total_in, out, unpriced=total_in + out > 0)
    cost = _usd(audio, price.audio_in) + _usd(text_in, price.text_in) + _usd(out, price.text_out)
    return Tokens(total_in, out, cost_usd=cost)


def chat_cost(usage: Any, price: Price | None) -> Tokens:
    """The cost of one chat completion's ``usage`` (``stream_options.include_usage``)."""
    if not isinstance(usage, dict):
        return Tokens()
    prompt = _int(usage, "prompt_tokens")
    cached = min(prompt, _int(usage, "prompt_tokens_details", "cached_tokens"))
    completion = _int(usage, "completion_tokens")
    if price is None:
        return Tokens(prompt, completion, unpriced=prompt + completion > 0)
    cached_price = price.cached_text_in if price.cached_text_in is not None else price.text_in
    cost = (
        _usd(prompt - cached, price.text_in)
        + _usd(cached, cached_price)
        + _usd(completion, price.text_out)
    )
    return Tokens(prompt, completion, cost_usd=cost)
