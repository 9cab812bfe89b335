"""One reply in text mode: streamed chat completions, tool rounds, spoken sentence by sentence.

:class:`TextReply` asks :class:`~vivavoce.text.chat.Chat` for the reply to the conversation so
far, streams it into the transcript as it is written, runs the voice tools the model calls
(at most :data:`MAX_TOOL_ROUNDS` rounds, then the model must answer in words) and hands each
finished sentence to :func:`speak`, which has text mode's :class:`~vivavoce.text.voice.Voice`
say it while the next one is still being written. What is said is the reply's markdown as plain
words (:class:`~vivavoce.text.spoken.SpokenMarkdown`): a fenced code block is shown in the
editor (``on_code``) and said as one short phrase.

Both run as tasks of the conversation's text task set, so stopping the conversation or
interrupting the reply cancels them; the reply is then final, marked ``interrupted``, with what
was written so far.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import VivavoceError
from ..realtime.events import new_id
from ..realtime.transcript import TranscriptUpdate
from .chat import Chat, Message, ToolCallRequest, ToolSpec

if TYPE_CHECKING:
    from ..tasks import TaskSet
    from .voice import Voice

log = logging.getLogger(__name__)

#: At most this many rounds of tool calls before the reply must be text.
MAX_TOOL_ROUNDS = 4

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

#: Runs one tool call (name, JSON arguments, transcript item id) and returns its JSON output.
RunTool = Callable[[str, str | None, str], Awaitable[str]]


class TextReply:
    """The assistant's reply to the last user turn, written and (optionally) spoken."""

    def __init__(
        self,
        chat: Chat,
        model: str,
        messages: list[Message],
        *,
        after: str,
        tools: Sequence[ToolSpec],
        run_tool: RunTool,
        on_update: Callable[[TranscriptUpdate], None],
        on_message: Callable[[str], None],
        on_code: Callable[[str, str], None] | None = None,
    ) -> None:
        from .spoken import SpokenMarkdown

        self._chat = chat
        self._model = model
        self._messages = messages
        self._tools = list(tools)
        self._run_tool = run_tool
        self._on_update = on_update
        self._on_message = on_message
        #: The reply's words to say (its markdown as speech; code blocks to ``on_code``, or
        #: said to be in the written reply when it is None: no editor).
        self._spoken = SpokenMarkdown(on_code)
        self.item_id = new_id("item")
        #: The line this reply follows in the transcript (the user's turn, or the last tool's).
        self.after = after
        self.text = ""
        #: Finished sentences for :func:`speak`; None ends them.
        self.sentences: asyncio.Queue[str | None] = asyncio.Queue()

    async def run(self, tasks: TaskSet, voice: Voice | None) -> None:
        """Write the reply (and say it when there is a ``voice``) until done or cancelled.

        Raises the error of a reply that failed before it said anything: that error is the
        answer. A reply that broke off midway is kept, marked interrupted, and the user told.
        """
        if voice is not None:
            tasks.spawn(speak(self.sentences, voice, self._on_message), "speak reply")
        writing = tasks.spawn(self._write(), "write reply")
        interrupted = False
        try:
            await writing
        except asyncio.CancelledError:
            interrupted = True
        except VivavoceError as exc:
            if not self.text:
                raise
            interrupted = True
            self._on_message(f"vivavoce: the reply broke off: {exc}")
        if self.text or interrupted:
            self._on_update(self._update(text=self.text, final=True, interrupted=interrupted))

    def _update(self, **fields: Any) -> TranscriptUpdate:
        return TranscriptUpdate(
            item_id=self.item_id, previous_item_id=self.after, role="assistant", **fields
        )

    async def _write(self) -> None:
        pending = ""
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            calls: list[ToolCallRequest] = []
            offered = self._tools if round_ < MAX_TOOL_ROUNDS else []  # then it must answer
            stream = self._chat.stream(self._model, self._messages, offered, item_id=self.item_id)
            async for piece in stream:
                if not isinstance(piece, str):
                    calls.append(piece)
                    continue
                self.text += piece
                # The line first: a code block it closes is shown after the text that has it
                # (a client showing both can tell the two are one).
                self._on_update(self._update(text=self.text, delta=piece))
                pending += self._spoken.feed(piece)
                *done, pending = _SENTENCE_END.split(pending)
                for sentence in done:
                    self.sentences.put_nowait(sentence)
            if not calls:
                break
            self.after = await self._run_tools(calls)
        pending += self._spoken.end()
        *done, pending = _SENTENCE_END.split(pending)
        for sentence in [*done, pending]:
            self.sentences.put_nowait(sentence)
        self.sentences.put_nowait(None)

    async def _run_tools(self, calls: list[ToolCallRequest]) -> str:
        """Run one round of tool calls; their outputs join the messages. The last line's id."""
        parts = [c.message_part() for c in calls]
        self._messages.append(Message(role="assistant", content=None, tool_calls=parts))
        item_id = self.after
        for call in calls:
            item_id = new_id("item")
            output = await self._run_tool(call.name, call.arguments, item_id)
            self._messages.append(Message(role="tool", content=output, tool_call_id=call.id))
        return item_id


async def speak(
    sentences: asyncio.Queue[str | None], voice: Voice, on_message: Callable[[str], None]
) -> None:
    """Say a reply sentence by sentence, as it is written."""
    while (sentence := await sentences.get()) is not None:
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        try:
            await voice.say(sentence)
        except VivavoceError as exc:
            on_message(f"vivavoce: the reply cannot be spoken: {exc}")
            return
