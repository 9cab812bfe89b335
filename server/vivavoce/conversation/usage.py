"""What a conversation has cost so far, and its budget.

:class:`UsageMeter` sums the usage the servers report (``response.done``, finished input
transcriptions, chat completions, text mode's transcriptions) per conversation and per call,
prices it with :mod:`vivavoce.pricing` (the ``prices`` setting over the published prices), and
tells its owner:

* ``on_change(UsageStatus)``: at most every :data:`STATUS_INTERVAL` seconds (a reply's usage,
  the seconds heard and spoken; like the level meter, never a flood of status notifications);
* ``on_budget("warning" | "over", spent, budget)``: once each, when the conversation reaches
  90 % and 100 % of ``maxCostPerConversationUsd``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ..pricing import Price, Tokens, chat_cost, price_for, response_cost, transcription_cost

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["BUDGET_WARNING", "STATUS_INTERVAL", "BudgetEvent", "UsageMeter", "UsageStatus"]

#: Seconds between two usage status updates, at least.
STATUS_INTERVAL = 0.5
#: The share of the budget at which the user is warned.
BUDGET_WARNING = 0.9

BudgetEvent = Literal["warning", "over"]
#: What a usage report came from (the history's ``usage`` records say it).
Source = Literal["response", "transcription", "chat"]


class UsageStatus(BaseModel):
    """``realtime/status`` ``usage``: the conversation's totals (and the current call's cost)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    input_tokens: int = 0
    output_tokens: int = 0
    audio_input_seconds: float = 0.0
    audio_output_seconds: float = 0.0
    cost_usd: float = 0.0
    call_cost_usd: float = 0.0
    #: Some usage came from a model with no known price: the cost is a lower bound.
    unpriced: bool = False


class UsageMeter:
    """The usage of one conversation (all its calls and modes) and of its current call."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        *,
        on_change: Callable[[UsageStatus], None] = lambda _: None,
        on_budget: Callable[[BudgetEvent, float, float], None] = lambda *_: None,
        on_record: Callable[[Source, str, Tokens, str | None], None] = lambda *_: None,
    ) -> None:
        self._settings = settings
        self._on_change = on_change
        self._on_budget = on_budget
        #: Told every priced report: (source, model, its tokens and cost, the item it is for).
        self._on_record = on_record
        self.conversation = Tokens()
        self.call = Tokens()
        self._said: set[BudgetEvent] = set()
        self._pending: asyncio.TimerHandle | None = None
        self._last_sent = 0.0
        #: What the status last said (nothing new, nothing sent: a call starting at zero).
        self._sent = UsageStatus()

    # ------------------------------------------------------------------ reports

    def new_call(self) -> None:
        """A call starts: its own totals start at zero."""
        self.call = Tokens()
        self._changed()

    def response(self, model: str, usage: Any, item_id: str | None = None) -> Tokens:
        """A ``response.done`` ``usage`` of a call with ``model``."""
        return self._add("response", model, response_cost(usage, self._price(model)), item_id)

    def transcription(self, model: str, usage: Any, item_id: str | None = None) -> Tokens:
        """The ``usage`` of a finished transcription with ``model``."""
        tokens = transcription_cost(usage, self._price(model))
        return self._add("transcription", model, tokens, item_id)

    def chat(self, model: str, usage: Any, item_id: str | None = None) -> Tokens:
        """A chat completion's ``usage`` (text mode)."""
        return self._add("chat", model, chat_cost(usage, self._price(model)), item_id)

    def audio(self, *, heard: float = 0.0, spoken: float = 0.0) -> None:
        """Seconds of the user's speech the server heard, of the assistant's voice received."""
        if heard <= 0 and spoken <= 0:
            return
        extra = Tokens(audio_input_seconds=max(0.0, heard), audio_output_seconds=max(0.0, spoken))
        self.conversation += extra
        self.call += extra
        self._changed()

    # ------------------------------------------------------------------ state

    def status(self) -> UsageStatus:
        c = self.conversation
        return UsageStatus(
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
            audio_input_seconds=round(c.audio_input_seconds, 1),
            audio_output_seconds=round(c.audio_output_seconds, 1),
            cost_usd=round(c.cost_usd, 6),
            call_cost_usd=round(self.call.cost_usd, 6),
            unpriced=c.unpriced,
        )

    @property
    def over_budget(self) -> bool:
        budget = self._settings().max_cost_per_conversation_usd
        return budget is not None and self.conversation.cost_usd >= budget

    def close(self) -> None:
        """Send what is pending now and stop the timer (idempotent)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
            self._send()

    # ------------------------------------------------------------------ inside

    def _price(self, model: str) -> Price | None:
        return price_for(model, self._settings().prices)

    def _add(self, source: Source, model: str, tokens: Tokens, item_id: str | None) -> Tokens:
        if not (tokens.input_tokens or tokens.output_tokens or tokens.cost_usd):
            return tokens
        self.conversation += tokens
        self.call += tokens
        self._on_record(source, model, tokens, item_id)
        self._changed()
        self._check_budget()
        return tokens

    def _check_budget(self) -> None:
        budget = self._settings().max_cost_per_conversation_usd
        if budget is None:
            return
        spent = self.conversation.cost_usd
        steps: tuple[tuple[BudgetEvent, float], ...] = (("warning", BUDGET_WARNING), ("over", 1.0))
        for event, share in steps:
            if spent >= budget * share and event not in self._said:
                self._said.add(event)
                if event == "warning" and spent >= budget:
                    continue  # past both at once: only "over" is said
                self._on_budget(event, spent, budget)

    def _changed(self) -> None:
        """Status now, or at the end of the interval when one was sent just before."""
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._send()
            return
        wait = self._last_sent + STATUS_INTERVAL - loop.time()
        if wait <= 0:
            self._send()
        else:
            self._pending = loop.call_later(wait, self._send)

    def _send(self) -> None:
        self._pending = None
        status = self.status()
        if status == self._sent:
            return
        self._sent = status
        with contextlib.suppress(RuntimeError):  # no loop: nothing to throttle against
            self._last_sent = asyncio.get_running_loop().time()
        self._on_change(status)
