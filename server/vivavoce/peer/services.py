"""Who does each step of a turn for the peer: hear, write the reply, speak.

One :class:`Services` per peer, shared by its calls and its text routes. :func:`services_for`
picks each step's implementation from the options: the built-in ones (pocketsphinx in worker
processes, :class:`~vivavoce.peer.responders.BuiltinResponder`, flite) unless an upstream server
is configured for that step (:mod:`.upstreams`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..rtc.tracks import Pcm

if TYPE_CHECKING:
    from .options import PeerOptions
    from .responders import Responder


class Utterance(Protocol):
    """One turn being recognized while it is spoken (:meth:`SpeechToText.stream`).

    Its one owner feeds it the turn's audio as it arrives, then either :meth:`finish` es it (the
    words) or :meth:`drop` s it (the turn was cleared); after either, :meth:`drop` does nothing.
    """

    def feed(self, pcm: Pcm) -> None:
        """More of the turn (16 kHz mono int16); never blocks."""
        ...

    async def finish(self, audio: Pcm) -> str:
        """The words of the turn. ``audio``: the whole turn as committed, for a recognizer that
        can only take it whole (or whose streaming failed on the way)."""
        ...

    def drop(self) -> None:
        """Forget the turn (idempotent)."""
        ...


class SpeechToText(Protocol):
    """16 kHz mono int16 in, the words out: a whole clip, or a turn as it is spoken."""

    async def transcribe(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        """The words heard in ``pcm``; ``words``: the session's vocabulary."""
        ...

    def stream(self, words: tuple[str, ...] = (), kind: str = "audio/pcm") -> Utterance:
        """A turn to feed as it is spoken (:class:`~.upstreams.WholeTurn` when it cannot
        stream: it hears the turn at :meth:`Utterance.finish`). ``kind``: the session's input
        audio format (a recognizer that adapts to what it hears keeps kinds apart)."""
        ...

    async def warm_up(self) -> None:
        """Load what the first utterance needs."""
        ...

    async def aclose(self) -> None:
        """Let go of connections and workers' claims (idempotent)."""
        ...


class TextToSpeech(Protocol):
    """Text in, 16 kHz mono int16 speech out: whole, or in pieces as they are made."""

    async def synthesize(self, text: str, voice: str | None = None, speed: float = 1.0) -> Pcm:
        """All the speech for ``text``."""
        ...

    def stream(
        self, text: str, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[Pcm, None]:
        """The speech for ``text`` in order, each piece as soon as it is there."""
        ...

    async def aclose(self) -> None:
        """Let go of connections (idempotent)."""
        ...


@dataclass
class Services:
    """Heavy shared helpers, one set per peer."""

    synthesizer: TextToSpeech
    recognizer: SpeechToText
    responder: Responder

    async def aclose(self) -> None:
        """Close the upstreams' connections (idempotent)."""
        await self.synthesizer.aclose()
        await self.recognizer.aclose()
        await self.responder.aclose()


def services_for(options: PeerOptions) -> Services:
    """The built-in services, with an upstream server for each step that names one."""
    from .responders import BuiltinResponder, ChatResponder
    from .stt import Recognizer
    from .tts import Synthesizer
    from .upstreams import HttpRecognizer, HttpSynthesizer

    responder: Responder
    if options.responder is not None:
        responder = options.responder
    elif options.responder_url:
        responder = ChatResponder(
            options.responder_url,
            model=options.responder_model,
            api_key=options.responder_api_key,
            timeout=options.upstream_timeout,
        )
    else:
        responder = BuiltinResponder()
    recognizer: SpeechToText = Recognizer()
    if options.transcribe is not None:
        recognizer = HttpRecognizer(options.transcribe)
    synthesizer: TextToSpeech = Synthesizer()
    if options.speech is not None:
        synthesizer = HttpSynthesizer(options.speech, options.speech_voice)
    return Services(synthesizer, recognizer, responder)
