"""A reply started before its turn has ended (the peer's ``speculate`` option, on by default).

With ``server_vad`` the turn's words are asked for :data:`~.turn_words.EARLY_MS` before the
silence ends the turn (:mod:`.turn_words`). When they are there and the turn would get a
response at its commit, :class:`~.responses.Responses` starts a :class:`Speculation`: the
responder's :meth:`~.responders.Responder.answer` for the conversation as it would then be
(for a chat upstream, the streamed request) and the synthesis of the reply's first sentence
or clause, as LiveKit's "preemptive generation" does. What comes is buffered here; nothing is
sent to the client, so the wire is exactly the real API's.

At the commit the response compares what it would ask for (:class:`Basis`: the messages,
instructions, tools, voice…) with what the speculation asked for. The same: it *adopts* the
speculation, reading its buffered text and speech as they come, and sends its events then.
Anything else (the user spoke again, other words, a session or conversation change, a response
the client created) closes it: its tasks are cancelled, which closes the upstream streams, and
nothing of it was ever sent. A paid chat upstream bills the discarded requests (only pauses
that nearly ended a turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..rtc.tracks import Pcm
from .items import Message, ToolCall
from .responders import Responder
from .sentences import sentences
from .services import TextToSpeech
from .wire import Spawn

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Basis:
    """What a reply is written from: equal bases give the same reply."""

    messages: tuple[Message, ...]
    instructions: str
    tools: tuple[str, ...]
    specs: tuple[Any, ...]  # the declared functions (dicts: compared, never hashed)
    audio: bool
    voice: str | None
    speed: float


class Closed(RuntimeError):
    """The speculation was closed while its reply was being read."""


class _Buffered(Generic[T]):
    """What a producer has made so far, read from the start by any reader as it comes."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._done = False
        self._error: BaseException | None = None
        self._more = asyncio.Event()

    def put(self, item: T) -> None:
        self._items.append(item)
        self._more.set()

    def end(self, error: BaseException | None = None) -> None:
        if not self._done:
            self._done, self._error = True, error
            self._more.set()

    async def fill(self, items: AsyncIterator[T]) -> None:
        """Put what ``items`` gives, then end (with its failure, if it fails)."""
        try:
            async for item in items:
                self.put(item)
        except Exception as exc:
            self.end(exc)
            return
        self.end()

    async def read(self) -> AsyncGenerator[T, None]:
        i = 0
        while True:
            if i < len(self._items):
                i += 1
                yield self._items[i - 1]
            elif self._done:
                if self._error is not None:
                    raise self._error
                return
            else:
                self._more.clear()
                await self._more.wait()


class Speculation:
    """One reply being written ahead of its turn's end (see the module docstring).

    Its one owner (:class:`~.responses.Responses`, then the response that adopts it) calls
    :meth:`close` when it is done with it; its tasks are the session's, so closing the session
    cancels them too.
    """

    def __init__(
        self,
        basis: Basis,
        responder: Responder,
        synthesizer: TextToSpeech,
        spawn: Spawn,
        *,
        speak: bool,
    ) -> None:
        self.basis = basis
        self._responder = responder
        self._synthesizer = synthesizer
        self._spawn = spawn
        self._speak = speak
        self._answered = asyncio.Event()
        self._call: ToolCall | None = None
        self._error: Exception | None = None
        self._text: _Buffered[str] = _Buffered()
        self._first: str | None = None  # the first sentence whose speech is buffered
        self._first_known = asyncio.Event()
        self._speech: _Buffered[Pcm] = _Buffered()
        self._closed = False
        self._tasks = [spawn(self._write(), "speculative reply")]

    def close(self) -> None:
        """Stop writing (the upstream requests are closed as their tasks end); idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        self._text.end(Closed("the speculative reply was closed"))
        self._speech.end(Closed("the speculative reply was closed"))
        self._answered.set()
        self._first_known.set()

    # ------------------------------------------------------------------ writing

    async def _write(self) -> None:
        b = self.basis
        try:
            answer = await self._responder.answer(b.messages, b.instructions, b.tools, b.specs)
        except Exception as exc:  # the response that adopts it says so
            self._error = exc
            self._answered.set()
            self._first_known.set()
            return
        if isinstance(answer, ToolCall):
            self._call = answer
            self._answered.set()
            self._first_known.set()
            return
        self._answered.set()
        if self._speak:
            self._tasks.append(self._spawn(self._say_first(), "speculative speech"))
        else:
            self._first_known.set()
        async with contextlib.aclosing(_generator(answer)) as chunks:
            await self._text.fill(chunks)

    async def _say_first(self) -> None:
        """The speech of the reply's first sentence (or clause), as the response cuts it."""
        try:
            async with contextlib.aclosing(sentences(self._text.read())) as said:
                self._first = await anext(said, None)
        except Exception:  # the text failed: the response reads that failure itself
            self._first = None
        self._first_known.set()
        if self._first is None:
            self._speech.end()
            return
        b = self.basis
        speech = self._synthesizer.stream(self._first, b.voice, b.speed)
        async with contextlib.aclosing(speech):
            await self._speech.fill(speech)

    # ------------------------------------------------------------------ adopting

    async def answer(self) -> ToolCall | AsyncIterator[str]:
        """What :meth:`Responder.answer` gave (its text from the start, as it comes)."""
        await self._answered.wait()
        if self._closed:
            raise Closed("the speculative reply was closed")
        if self._error is not None:
            raise self._error
        if self._call is not None:
            return self._call
        return self._text.read()

    async def speech_of(self, sentence: str) -> AsyncGenerator[Pcm, None] | None:
        """The speech made ahead for ``sentence`` (None: not this one, or none made)."""
        await self._first_known.wait()
        if self._closed or self._first is None or self._first != sentence:
            return None
        return self._speech.read()


async def _generator(chunks: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """``chunks`` as a generator that closes them (a responder's own is closed through it)."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
