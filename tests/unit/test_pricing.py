"""What a conversation costs: the published prices, the setting over them, and the meter's
budget and status rules (issue 20)."""

from __future__ import annotations

import asyncio

import pytest

from vivavoce.conversation.usage import UsageMeter, UsageStatus
from vivavoce.pricing import (
    PRICES_CHECKED,
    Price,
    chat_cost,
    price_for,
    response_cost,
    transcription_cost,
)
from vivavoce.settings import Settings

#: A usage block as the API sends it (cached tokens are a subset of the input tokens).
USAGE = {
    "total_tokens": 821,
    "input_tokens": 789,
    "output_tokens": 32,
    "input_token_details": {
        "text_tokens": 313,
        "audio_tokens": 476,
        "cached_tokens": 640,
        "cached_tokens_details": {"text_tokens": 256, "audio_tokens": 384},
    },
    "output_token_details": {"text_tokens": 9, "audio_tokens": 23},
}


def test_a_reply_costs_its_uncached_and_cached_tokens_at_their_own_prices() -> None:
    price = price_for("gpt-realtime-2.1")
    assert price is not None
    cost = response_cost(USAGE, price)
    expected = (
        (313 - 256) * 4.0 + 256 * 0.40 + (476 - 384) * 32.0 + 384 * 0.40 + 9 * 24.0 + 23 * 64.0
    ) / 1e6
    assert cost.cost_usd == pytest.approx(expected)
    assert (cost.input_tokens, cost.output_tokens) == (789, 32)


def test_the_prices_setting_changes_only_what_it_names_and_adds_models() -> None:
    settings = Settings().with_changes(
        {"prices": {"gpt-realtime-2.1": {"audioOut": 1.0}, "Local-Model": {"textIn": 2.0}}}
    )
    mine = price_for("gpt-realtime-2.1", settings.prices)
    assert mine is not None and (mine.audio_out, mine.audio_in) == (1.0, 32.0)
    # A dated snapshot is priced as its model; a model nobody knows has no price.
    assert price_for("gpt-realtime-2.1-2026-11-01") == price_for("gpt-realtime-2.1")
    assert price_for("Local-Model", settings.prices) == Price(text_in=2.0)
    assert price_for("someone-elses-model") is None
    assert response_cost(USAGE, None).unpriced
    assert PRICES_CHECKED.startswith("20")


def test_transcriptions_cost_by_the_minute_or_by_the_token() -> None:
    by_minute = transcription_cost(
        {"type": "duration", "seconds": 120}, price_for("gpt-transcribe")
    )
    assert by_minute.cost_usd == pytest.approx(2 * 0.0045)
    tokens = {
        "type": "tokens",
        "input_tokens": 100,
        "output_tokens": 20,
        "input_token_details": {"audio_tokens": 100, "text_tokens": 0},
    }
    by_token = transcription_cost(tokens, price_for("gpt-4o-transcribe"))
    assert by_token.cost_usd == pytest.approx((100 * 2.5 + 20 * 10.0) / 1e6)


def test_a_chat_completion_costs_its_cached_prompt_less() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 800},
    }
    cost = chat_cost(usage, price_for("gpt-5.4-mini"))
    assert cost.cost_usd == pytest.approx((200 * 0.75 + 800 * 0.075 + 100 * 4.5) / 1e6)


async def test_the_budget_is_told_once_at_90_and_once_at_100_percent() -> None:
    settings = Settings(max_cost_per_conversation_usd=0.01, prices={"m": Price(text_out=1000.0)})
    told: list[tuple[str, float]] = []
    meter = UsageMeter(lambda: settings, on_budget=lambda e, spent, _: told.append((e, spent)))
    usage = {"output_token_details": {"text_tokens": 5}, "output_tokens": 5}  # $0.005 each
    meter.response("m", usage)
    assert told == [] and not meter.over_budget
    meter.response("m", {"output_token_details": {"text_tokens": 4}, "output_tokens": 4})
    assert [e for e, _ in told] == ["warning"]  # $0.009: 90 %
    meter.response("m", usage)
    meter.response("m", usage)
    assert [e for e, _ in told] == ["warning", "over"] and meter.over_budget
    meter.close()


async def test_usage_status_is_sent_at_most_twice_a_second() -> None:
    sent: list[UsageStatus] = []
    meter = UsageMeter(Settings, on_change=sent.append)
    for _ in range(50):
        meter.audio(spoken=0.02)  # a reply's audio, frame by frame
    assert len(sent) == 1  # the first at once, the rest gathered
    await asyncio.sleep(0.6)
    assert len(sent) == 2 and sent[-1].audio_output_seconds == pytest.approx(1.0)
    meter.close()


def test_every_default_model_has_a_published_price() -> None:
    """A default that changes without a price would show a cost of $0 (``unpriced``)."""
    s = Settings()
    for model in (s.model, s.text_model, s.speech_model, s.transcription.model):
        assert price_for(model) is not None, model


def test_the_first_ga_realtime_models_and_their_snapshots_are_priced() -> None:
    """A user who picks ``gpt-realtime`` (or a dated mini) sees a cost, not ``unpriced``."""
    minute_of_voice = {"output_tokens": 1200, "output_token_details": {"audio_tokens": 1200}}
    for model, usd_a_minute in (
        ("gpt-realtime-2025-08-28", 1200 * 64 / 1e6),
        ("gpt-realtime-mini-2025-12-15", 1200 * 20 / 1e6),
    ):
        tokens = response_cost(minute_of_voice, price_for(model))
        assert not tokens.unpriced, model
        assert tokens.cost_usd == pytest.approx(usd_a_minute), model
