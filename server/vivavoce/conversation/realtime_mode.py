"""Realtime mode: the current call, what the assistant is saying, and keeping the call up.

:class:`RealtimeMode` opens a :class:`~vivavoce.realtime.Call` with the session its
conversation asks for, gives the new call the recent turns (replay), forwards its transcript,
follows what the assistant is saying (for interruption and barge-in), runs the voice tools the
model calls, and keeps the conversation going when a call drops (new calls with backoff, then
text mode) or must be replaced (the voice, model or instructions changed).
It reports what each call costs (``response.done`` and transcription usage, the seconds heard
and spoken) to the conversation's :class:`~.usage.UsageMeter`, and hangs up a call in which
nobody spoke, typed or used a tool for ``idleHangupSeconds`` (``Status.hung_up_after``; the
conversation calls again on the next push to talk or typed text).

Over WebRTC the server owns the assistant's audio: on barge-in it cancels and truncates by
itself, so the client only drops what its own speaker still holds; an explicit interrupt is
``response.cancel`` then ``output_audio_buffer.clear`` (agents-js's ``interrupt()``). Replies are
asked for through one :class:`~vivavoce.realtime.responses.ResponseQueue`. A session is renewed
(a new call, the conversation replayed) at a turn boundary shortly before the server's time
limit; a session that expires anyway is recovered the same way, without troubling the user.
What a call that ended took and never answered is not lost: typed turns the server had not
confirmed are sent again, and a reply it owed is asked of the next call.

It reaches its conversation only through :class:`Host`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import CallError, SessionExpired, VivavoceError
from ..tasks import TaskSet
from .host import Activity, Heard, ModeHost, keep_vocabulary, reopen

if TYPE_CHECKING:
    from ..realtime import Call, CallState
    from ..realtime import events as ev
    from ..realtime.responses import ResponseQueue
    from .endpoint import Endpoint
    from .status import AudioIO, MessageLevel, Turns
    from .usage import UsageMeter

log = logging.getLogger(__name__)

#: Taken off the heard time of a truncate: our clock starts when we hear that the audio began,
#: the server counts the 20-ms frames it sent, and a truncate 1 ms past them is refused.
TRUNCATE_MARGIN_MS = 40

#: More calls than this dropping within a minute: the server is broken; stop reconnecting.
MAX_DROPS_PER_MINUTE = 5
#: How long a session lasts when the server does not say (api.openai.com: 60 minutes).
SESSION_SECONDS = 3600.0
#: Renew this long before the session ends (at most a quarter of its life).
RENEW_MARGIN = 300.0


class Host(ModeHost, Protocol):
    """What realtime mode needs from its conversation."""

    endpoint: Endpoint
    #: What the conversation has cost so far.
    usage: UsageMeter
    #: Held while the mode or the call changes (requests, reconnection).
    busy: asyncio.Lock
    #: Connect steps, for progress reports.
    on_step: Callable[[str], None] | None

    def say(self, level: MessageLevel, text: str) -> None: ...
    def session(self) -> ev.Session: ...
    def transcription(self) -> ev.Transcription: ...
    @property
    def turns(self) -> Turns: ...
    def transcript(self, update: Any) -> None: ...
    async def open_audio(self) -> AudioIO | None: ...
    def gate_microphone(self) -> None: ...
    def roll_back_to_text(self, exc: VivavoceError, message: str | None = None) -> None: ...
    async def run_tool(self, name: str, arguments: str | None, item_id: str | None) -> str: ...


class RealtimeMode:
    """The calls of one conversation, one at a time."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.call: Call | None = None
        self._tasks = TaskSet("vivavoce realtime")
        self._replayed: set[str] = set()  # items a new call was given: already shown
        self._said_errors: set[str] = set()
        self._drops: list[float] = []  # when calls dropped (to stop a reconnect loop)
        self._responses: ResponseQueue | None = None  # the current call's
        # What the assistant is saying now (for interruption): its item, when its audio began
        # (our clock) and how much of the call's audio had been received by then.
        self._assistant_item: str | None = None
        self._audio_started: float | None = None
        self._audio_mark = 0.0
        self._user_speaking = False
        #: Set at turn boundaries: nobody speaks, no reply runs or waits.
        self._between_turns = asyncio.Event()
        #: Set while a call is live (a renewal or recovery clears it for a moment).
        self._live = asyncio.Event()
        #: Set when the call's vocabulary may be stale (the editor changed, a turn ended).
        self._vocabulary_stale = asyncio.Event()
        #: When someone last spoke, typed or used a tool, for the idle hang-up.
        self._activity = Activity()
        #: The user's speech: the seconds heard and transcriptions, for the usage.
        self._heard = Heard(host.usage, self._activity)
        #: Voice tools running (one may wait for the user to accept an edit): not idle.
        self._tools_running = 0
        #: Turns on their way to the server (typed, committed, tool outputs) whose reply is
        #: not asked for yet: not a turn boundary (a renewal then would lose them).
        self._in_flight = 0
        #: Typed turns sent whose item the server has not confirmed (``conversation.item.added``),
        #: by item id: a call that ends before it did never had them; the next call gets them.
        self._unconfirmed: dict[str, str] = {}
        #: The call that ended owed a reply (asked for, or started, and not done): the next
        #: call asks again once it has the turns (see :meth:`_answer_what_was_owed`).
        self._owed = False
        #: The call's assistant audio already counted in the usage (seconds).
        self._spoken_mark = 0.0

    def live_call(self, what: str) -> Call:
        from ..realtime import CallState

        call = self.call
        if call is None or call.state is not CallState.LIVE:
            raise CallError(f"cannot {what}: no live call (start one first)")
        return call

    # ------------------------------------------------------------------ opening, closing

    async def open(self) -> None:
        """A new call with the conversation's session; LIVE with the recent turns replayed."""
        from ..realtime import Call

        host = self._host
        if host.status.state != "reconnecting":
            host.update(mode="realtime", state="connecting", error=None)
            # Not a call replacing one that ended: nothing is owed (what text mode, after a
            # roll back, took or lost is not sent again behind its turns).
            self._unconfirmed.clear()
            self._owed = False
        try:
            options = await host.endpoint.call_options()
            io = await host.open_audio()
            call = Call(
                host.session(),
                options,
                http=host.endpoint.http(),
                source=io.source if io else None,
                sink=io.sink if io else None,
                on_state=self._on_call_state,
                on_step=host.on_step,
            )
            self.call = call
            await call.start()
        except VivavoceError as exc:
            self.call = None
            if host.status.state != "reconnecting":
                host.update(state="error", error=str(exc), call_id=None)
            raise
        from ..realtime.responses import ResponseQueue

        self._responses = ResponseQueue(call.send)
        self._user_speaking = False
        self._heard.reset()
        self._spoken_mark = 0.0
        host.usage.new_call()
        self.touch()
        self._turn_boundary()
        self._follow(call)
        try:
            await self._replay(call)
            await self._answer_what_was_owed(call)
        except VivavoceError as exc:  # the call failed as it opened: not left open, billed
            await self.close(keep_state=True)
            if host.status.state != "reconnecting":
                host.update(state="error", error=str(exc), call_id=None)
            raise
        host.gate_microphone()
        host.update(state="live", call_id=call.call_id, error=None)
        self._live.set()

    async def close(self, *, keep_state: bool = False) -> None:
        """Hang up (if a call is open) and cancel everything that served it."""
        call, self.call = self.call, None
        self._live.clear()
        if not keep_state:
            self._unconfirmed.clear()
            self._owed = False
        elif self._responses is not None and self._responses.busy:
            self._owed = True
        if call is not None:
            self._count_spoken(call)
            if not keep_state:
                self._host.update(state="closing")
            await call.close()
        await self._tasks.cancel_all()
        self._assistant_item = self._audio_started = self._responses = None

    def replace(self, why: str) -> None:
        """The session changed (voice, model, instructions): a new call, same conversation."""
        self._tasks.spawn(self._reconnect(why), "reconnect")

    async def _reconnect(self, why: str, unless: Callable[[], bool] = lambda: False) -> bool:
        """A new call for this one, unless ``unless()`` says otherwise once nothing else runs
        (then False: nothing was done)."""
        host = self._host
        async with host.busy:
            if host.status.state != "live" or host.status.mode != "realtime":
                return True
            if unless():
                return False
            self._live.clear()  # what is typed from now on waits for the new call
            log.info("reconnecting: %s", why)
            host.update(state="reconnecting")
            await self.close(keep_state=True)
            try:
                await self.open()
            except VivavoceError as exc:
                host.roll_back_to_text(exc)
            return True

    def end_with(self, error: VivavoceError) -> None:
        """The call's server is known to be gone (the local peer died): end the call now."""
        if self.call is not None:
            self.call.fail(error)

    def _on_call_state(self, state: CallState, error: VivavoceError | None) -> None:
        from ..realtime import CallState

        host = self._host
        if state is not CallState.LIVE:
            self._live.clear()  # what is typed now waits for the next call
        if state is not CallState.ERROR or host.status.state != "live" or error is None:
            return
        # The call ended on its own (server gone, channel closed, session expired).
        self.call = None
        self._live.clear()
        if isinstance(error, SessionExpired):  # not a fault: a new session, as a renewal
            self._tasks.spawn(self._recover(error), "renew expired session")
            return
        now = time.monotonic()
        self._drops = [t for t in self._drops if now - t < 60] + [now]
        attempts = host.settings.reconnect_attempts
        # A server that drops every new call must not keep us reconnecting forever.
        if attempts > 0 and len(self._drops) <= MAX_DROPS_PER_MINUTE:
            self._tasks.spawn(self._recover(error), "recover call")
        elif attempts > 0:
            message = f"vivavoce: calls keep ending ({error}); continuing in text mode"
            host.roll_back_to_text(error, message)
        else:
            host.update(state="error", error=str(error), call_id=None, push_to_talk=False)
            host.say("error", f"vivavoce: the call ended: {error}")

    async def _recover(self, error: VivavoceError) -> None:
        """New calls with the same conversation, backing off; then text mode, nothing lost."""
        host = self._host
        async with host.busy:
            if self.call is not None or host.closed:
                return
            quiet = isinstance(error, SessionExpired)  # the user is not told of a renewal
            shown = None if quiet else str(error)
            host.update(state="reconnecting", error=shown, call_id=None, push_to_talk=False)
            await self.close(keep_state=True)
            last = await reopen(
                self.open,
                error,
                attempts=host.settings.reconnect_attempts,
                on_retry=lambda exc: host.update(state="reconnecting", error=str(exc)),
                what="the call",
            )
            if last is None:
                return
            host.roll_back_to_text(
                last,
                f"vivavoce: the call ended ({error}) and could not be reopened ({last}); "
                "continuing in text mode",
            )

    async def _replay(self, call: Call) -> None:
        """Give a new call the recent turns, so the assistant remembers them."""
        from ..realtime import events as ev

        for turn in self._host.turns.spoken(self._host.settings.replay_turns):
            kind: Literal["input_text", "output_text"] = (
                "input_text" if turn.role == "user" else "output_text"
            )
            item_id = ev.new_id("item")
            self._replayed.add(item_id)  # already in the transcript: not shown again
            item = ev.Item(
                id=item_id, role=turn.role, content=[ev.ContentPart(type=kind, text=turn.text)]
            )
            await call.send(ev.ItemCreate(item=item))

    async def _answer_what_was_owed(self, call: Call) -> None:
        """After the replay: what the last call took and never answered. The server ends a
        session at its time limit (or a call drops) whatever is under way, so a turn typed just
        before is lost with it unless sent again, and a reply it was making never comes unless
        asked for again (only when a user turn is left unanswered: the last one replayed)."""
        from ..realtime import events as ev

        resent = list(self._unconfirmed.items())
        for old_id, text in resent:  # each forgotten only once on its way
            item_id = ev.new_id("item")
            await call.send_text(text, respond=False, item_id=item_id)
            del self._unconfirmed[old_id]
            self._unconfirmed[item_id] = text
        # Owed to the user's turn, not to a tool's output: asked again, the model would run the
        # tool again (an edit applied twice).
        owed = self._owed and self._host.turns.last_role == "user"
        if (resent or owed) and self._responses is not None:
            log.info("asking the new call for the reply the last one owed")
            await self._responses.request()
        self._owed = False

    # ------------------------------------------------------------------ during the call

    def _follow(self, call: Call) -> None:
        """Forward the call's transcript, and follow what the assistant is saying."""

        async def transcripts() -> None:
            with contextlib.suppress(VivavoceError):
                async for update in call.transcripts():
                    if update.item_id not in self._replayed:
                        self._host.transcript(update)

        async def events() -> None:
            with contextlib.suppress(VivavoceError):
                async for event in call.events():
                    await self._on_event(call, event)

        self._tasks.spawn(transcripts(), "transcripts")
        self._tasks.spawn(events(), "events")
        self._tasks.spawn(self._renew_before_expiry(call), "renew before expiry")
        self._tasks.spawn(self._keep_vocabulary(call), "vocabulary")
        self._tasks.spawn(self._hang_up_when_idle(call), "idle hang-up")

    # ------------------------------------------------------------------ cost

    def touch(self) -> None:
        """Someone spoke, typed or used a tool: the call is not idle."""
        self._activity.touch()

    def _count_spoken(self, call: Call) -> None:
        spoken, self._spoken_mark = call.audio_received - self._spoken_mark, call.audio_received
        self._host.usage.audio(spoken=spoken)

    async def _hang_up_when_idle(self, call: Call) -> None:
        """Close a call in which nobody spoke for ``idleHangupSeconds``: billing stops; the
        conversation calls again (replaying itself) on the next push to talk or typed text."""

        def busy() -> bool:  # a turn is being spoken, a reply or a tool runs
            running = self._heard.key_down is not None or self._tools_running > 0
            return running or not self._between_turns.is_set()

        await self._activity.hang_up_when_idle(
            self._host,
            busy,
            lambda: self.call is call,
            lambda: self.close(keep_state=True),
            said="hung up",
            then="push to talk or type to call again",
        )

    def refresh_vocabulary(self) -> None:
        """The editor's documents or cursor changed: compare the call's vocabulary at the next
        turn boundary."""
        self._vocabulary_stale.set()

    async def _keep_vocabulary(self, call: Call) -> None:
        """Between turns, give the call the words of the code in front of the user when they
        changed: a ``session.update`` of its transcription (the API takes one mid-session), not
        a new call. The turn being spoken keeps the words it started with."""
        await keep_vocabulary(
            call,
            lambda: self.call,
            self._vocabulary_stale,
            self._between_turns,
            self._host.transcription,
        )

    async def _renew_before_expiry(self, call: Call) -> None:
        """Shortly before the server ends the session, at a turn boundary, open a new one."""
        now = time.time()
        life = (call.expires_at or now + SESSION_SECONDS) - now
        await asyncio.sleep(max(0.0, life - min(RENEW_MARGIN, life / 4)))

        # At a boundary, checked again once nothing else runs: a turn typed meanwhile (sent
        # on this call, its reply not yet asked for) would not be in what the new call replays.
        def moved_on() -> bool:
            return self.call is not call or not self._between_turns.is_set()

        while self.call is call:
            await self._between_turns.wait()
            if await self._reconnect("the session is renewed before its time limit", moved_on):
                return

    @contextlib.contextmanager
    def _turn_on_its_way(self) -> Iterator[None]:
        """A user turn or a tool's output is being sent and its reply asked for: no boundary."""
        self._in_flight += 1
        self._turn_boundary()
        try:
            yield
        finally:
            self._in_flight -= 1
            self._turn_boundary()

    def _turn_boundary(self) -> None:
        queue = self._responses
        idle = not (queue and queue.busy) and not self._user_speaking
        idle = idle and not (self._in_flight or self._heard.key_down is not None)
        if idle and self._audio_started is None:
            if not self._between_turns.is_set():
                self._vocabulary_stale.set()  # a turn ended: the user may have moved meanwhile
            self._between_turns.set()
        else:
            self._between_turns.clear()

    async def _on_event(self, call: Call, event: ev.ServerEvent) -> None:
        from ..realtime import events as ev

        queue = self._responses
        if queue is not None and await queue.observe(event):
            return  # a reply asked for too early: sent again when the running one ends
        self._heard.observe(call, event)
        match event:
            case ev.ItemAdded(item=item) if item.id in self._unconfirmed:
                del self._unconfirmed[item.id]
            case ev.OutputItemAdded(item=item) if item.role == "assistant":
                self._assistant_item = item.id
            case ev.OutputAudioStarted():
                self._audio_started = time.monotonic()
                self._audio_mark = call.audio_received
                self.touch()
            case ev.OutputAudioStopped() | ev.OutputAudioCleared():
                self._audio_started = None
                self.touch()
            case ev.ResponseDone(response=response):
                self.touch()
                first = response.output[0].id if response.output else None
                model = call.session.model or self._host.status.model
                self._host.usage.response(model, response.usage, first)
                self._count_spoken(call)
                calls = [item for item in response.output if item.type == "function_call"]
                if calls:
                    respond = response.status == "completed"
                    self._tasks.spawn(self._run_tools(call, calls, respond), "tools")
            case ev.SpeechStarted():
                self._user_speaking = True
                if self._audio_started is not None:
                    # Barge-in: over WebRTC the server cancels its reply and truncates it to
                    # what was played; only what our own speaker still holds is ours to drop.
                    self._audio_started = None
                    if (io := self._host.io) is not None:
                        io.flush()
            case ev.SpeechStopped():
                self._user_speaking = False
            case ev.ErrorEvent(error=error):
                self._server_error(call, error)
            case _:
                pass
        self._turn_boundary()

    def _server_error(self, call: Call, error: ev.ErrorDetail) -> None:
        """A request the server refused: logged with its cause, told once per kind."""
        from ..realtime import events as ev

        kind = ev.error_kind(error)
        if error.code == "session_expired" or kind in self._said_errors or not error.message:
            return  # an expired session is renewed; a kind already said is not said again
        if error.param == "audio_end_ms" or "is already shorter than" in error.message:
            # A truncate that raced the server's own (it stops and cuts its audio itself):
            # the user heard the voice stop either way.
            log.info("truncate refused (%s): %s", call.error_cause(error), error.message)
            return
        self._said_errors.add(kind)
        cause = call.error_cause(error)
        refused = f"the server refused {cause}" if cause else "the server said"
        self._host.say("warning", f"vivavoce: {refused}: {error.message}")

    async def _run_tools(self, call: Call, items: list[ev.Item], respond: bool) -> None:
        """Run the functions a response called, send their outputs, and ask for the reply."""
        with self._turn_on_its_way():
            await self._run_tools_now(call, items, respond)

    async def _run_tools_now(self, call: Call, items: list[ev.Item], respond: bool) -> None:
        from ..realtime import events as ev

        for item in items:
            self.touch()
            self._tools_running += 1
            try:
                output = await self._host.run_tool(item.name or "", item.arguments, item.id)
            finally:
                self._tools_running -= 1
            # An output too big for one data-channel message is shortened, with a marker, so
            # the assistant still gets an answer.
            result = ev.fit_function_output(
                ev.Item(type="function_call_output", call_id=item.call_id, output=output)
            )
            try:
                await call.send(ev.ItemCreate(item=result))
            except VivavoceError as exc:
                log.info("tool output not sent: %s", exc)
                return
        if respond and self._responses is not None:  # a cancelled one wants no follow-up
            with contextlib.suppress(VivavoceError):
                await self._responses.request()

    async def send_text(self, text: str) -> None:
        """A typed user turn; the reply comes when the session is free. Typed while a new call
        replaces the old one (renewal, recovery), it waits for that call instead of failing."""
        from ..realtime import events as ev

        if not self._live.is_set() and self._host.status.state in ("live", "reconnecting"):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2 * self._host.settings.connect_timeout):
                    await self._live.wait()
        call = self.live_call("send text")
        self.touch()
        item_id = ev.new_id("item")
        self._unconfirmed[item_id] = text
        with self._turn_on_its_way():
            try:
                await call.send_text(text, respond=False, item_id=item_id)
            except VivavoceError:  # not sent (too big, the call gone): the user is told
                self._unconfirmed.pop(item_id, None)
                raise
            if self._responses is not None:
                await self._responses.request()

    async def interrupt(self) -> None:
        """Stop the assistant now: ``response.cancel``, then ``output_audio_buffer.clear``; the
        item is truncated to what the user heard only if its audio was still playing."""
        from ..realtime import events as ev

        call = self.live_call("interrupt")
        queue = self._responses
        io = self._host.io
        dropped = io.flush() if io is not None else 0.0
        started, self._audio_started = self._audio_started, None
        if queue is not None:
            queue.drop_waiting()
            if queue.active is not None:
                await call.send(ev.ResponseCancel())
        if started is None:
            return  # nothing is playing: nothing to clear or truncate
        await call.send(ev.OutputAudioClear())
        if self._assistant_item is not None:
            await call.send(
                ev.ItemTruncate(
                    item_id=self._assistant_item,
                    audio_end_ms=self._heard_ms(call, started, dropped),
                )
            )

    def _heard_ms(self, call: Call, started: float, dropped: float) -> int:
        """How much of the reply the user heard, as the server counts its item's audio: the time
        since the audio began, but never more than the sound received since (the server does not
        count the silence it fills a slow reply's gaps with, and a truncate 1 ms past what it
        counts is refused: "Audio content of X ms is already shorter than Y ms"), less what our
        speaker still held."""
        elapsed = time.monotonic() - started
        received = call.audio_received - self._audio_mark
        return max(0, int((min(elapsed, received) - dropped) * 1000) - TRUNCATE_MARGIN_MS)

    async def push_to_talk(self, pressed: bool) -> None:
        """Press: no more automatic turns, stop the assistant, clear the input. Release: the
        turn is committed and answered (with no microphone nothing was said: cleared)."""
        from ..realtime import events as ev

        call = self.live_call("push to talk")
        self._heard.key(pressed, heard=self._host.io is not None)
        if pressed:
            self._turn_boundary()  # the user is speaking
            if call.session.audio.input.turn_detection is not None:
                call.session.audio.input.turn_detection = None  # the user decides the turns
                await call.send(ev.SessionUpdate(session=call.session))
            if self._audio_started is not None:
                await self.interrupt()
            await call.send(ev.InputClear())
            call.source.clear()
        elif self._host.io is not None:
            with self._turn_on_its_way():
                await call.send(ev.InputCommit())
                if self._responses is not None:
                    await self._responses.request()
        else:
            self._turn_boundary()
            await call.send(ev.InputClear())
