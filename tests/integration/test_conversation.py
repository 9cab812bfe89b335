"""One conversation across modes, voices, push-to-talk and interruption (issue 5).

Real local peer, real aiortc calls on loopback. The sound card is the only stand-in: an
in-memory AudioIO (the real devices are tested with PulseAudio in tests/audio/).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import overlap
from vivavoce.conversation import Conversation, Status
from vivavoce.peer.audio import resample
from vivavoce.peer.stt import Recognizer
from vivavoce.realtime import TranscriptUpdate
from vivavoce.realtime.events import NoiseReduction, SemanticVad
from vivavoce.rtc.tracks import MemorySink, PcmSource, rms_dbfs
from vivavoce.settings import Settings
from vivavoce.tools import Toolbox

pytestmark = pytest.mark.usefixtures("no_leaks")


class MemoryAudio:
    """A sound card in memory: `speak` is the microphone, `sink`/`played` the speaker."""

    def __init__(self) -> None:
        self.source = PcmSource()
        self.sink = MemorySink()
        self.muted = False
        self.played: list[np.ndarray[Any, Any]] = []
        self.flushes = 0
        self.closed = False
        self.on_problem: list[Callable[[Exception], None]] = []
        self.on_dropped: list[Callable[[int], None]] = []
        self.recordings: list[str] = []

    def speak(self, samples: np.ndarray[Any, Any], rate: int) -> None:
        if not self.muted:
            self.source.feed(samples, rate)

    def play(self, samples: Any, rate: int) -> None:
        self.played.append(samples)

    def flush(self) -> float:
        self.flushes += 1
        return 0.0

    def start_recording(self, path: object) -> None:
        self.recordings.append(str(path))

    async def close(self) -> None:
        self.closed = True


class Session:
    """A Conversation with what it told the editor."""

    def __init__(self, settings: Settings, tools: Toolbox | None = None) -> None:
        self.audio = MemoryAudio()
        self.updates: list[TranscriptUpdate] = []
        self.statuses: list[Status] = []
        self.messages: list[str] = []
        self.changed = asyncio.Event()

        async def open_audio(_: Settings, on_level: Callable[[float], None]) -> MemoryAudio:
            return self.audio

        def on_update(u: TranscriptUpdate) -> None:
            self.updates.append(u)
            self.changed.set()

        self.conv = Conversation(
            settings,
            on_status=self.statuses.append,
            on_transcript=on_update,
            on_message=lambda _, text: self.messages.append(text),
            audio=open_audio,
            tools=tools,
        )

    def finals(self, role: str) -> list[TranscriptUpdate]:
        """The final state of each turn of ``role``, in order (a turn may be finalized again
        when it is marked interrupted)."""
        last: dict[str, TranscriptUpdate] = {}
        for u in self.updates:
            if u.final and u.role == role:
                last[u.item_id] = u
        return list(last.values())

    async def until(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.05)

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def session(peer: Any) -> AsyncIterator[Session]:
    s = Session(Settings(peer=peer.base_url, api_key=None))
    yield s
    await s.conv.close()


async def test_text_turn_streams_and_the_reply_is_spoken(session: Session) -> None:
    status = await session.conv.start(mode="text")
    assert (status.mode, status.state) == ("text", "live")
    await session.conv.send_text("the build is broken")
    assert [u.text for u in session.finals("user")] == ["the build is broken"]
    reply = session.finals("assistant")[0].text
    assert "the build is broken" in reply
    deltas = [u.delta for u in session.updates if u.role == "assistant" and u.delta]
    assert len(deltas) >= 2 and "".join(deltas) == reply
    # Said by the default speech model, a realtime one, over a call of its own: the words of
    # the reply, read as written, reach the speaker; that call adds no turn to the transcript.
    sink = session.audio.sink
    await session.until(lambda: sink.audible_frames > 100)  # two seconds of voice
    heard_frames = -1
    while sink.audible_frames != heard_frames:  # until it has been quiet for 1.5 s
        heard_frames = sink.audible_frames
        await asyncio.sleep(1.5)
    heard = await Recognizer().transcribe(resample(sink.samples(), 48000, 16000))
    # The cost meter counts the voice's seconds, as a call's (they were left out in text mode).
    assert session.conv.status.usage is not None
    assert session.conv.status.usage.audio_output_seconds >= 2.0
    assert overlap(reply, heard) >= 0.6, heard
    assert len(heard.split()) <= len(reply.split()) + 2, heard  # read as written, not answered
    assert {u.item_id for u in session.updates if u.role == "assistant"} == {
        session.finals("assistant")[0].item_id
    }
    assert session.audio.played == [] and session.messages == []
    # That call reads aloud and sends no microphone: never LIVE (nothing streams, no minutes).
    assert {s.wire()["audio"] for s in session.statuses} == {"off"}


async def test_text_mode_speaks_through_a_text_to_speech_model_when_one_is_set(
    peer: Any,
) -> None:
    """``speechModel`` naming a text-to-speech model (or a local server's): POST /audio/speech,
    one request per sentence, played on the speaker."""
    session = Session(Settings(peer=peer.base_url, api_key=None, speech_model="gpt-4o-mini-tts"))
    try:
        await session.conv.start(mode="text")
        await session.conv.send_text("the build is broken")
        await session.until(lambda: len(session.audio.played) >= 2)  # one per sentence
        speech = np.concatenate(session.audio.played)
        assert speech.size > 24000 * 1.0 and rms_dbfs(speech) > -40  # over a second, audible
        assert session.audio.sink.frames == 0  # no call was opened for it
        played = speech.size / 24000
        await session.until(
            lambda: (
                (u := session.conv.status.usage) is not None
                and u.audio_output_seconds == pytest.approx(played, abs=0.1)
            )
        )  # the cost meter counts what was played
    finally:
        await session.conv.close()


async def test_toggling_both_ways_keeps_one_conversation(session: Session) -> None:
    await session.conv.start()
    await session.conv.send_text("my name is Ada")
    await session.until(lambda: len(session.finals("assistant")) == 1)

    assert session.conv.status.wire()["audio"] == "live"  # the microphone streams to the call
    status = await session.conv.toggle_mode()
    assert (status.mode, status.state, status.call_id) == ("text", "live", None)
    assert status.wire()["audio"] == "off"  # a text conversation is not LIVE
    await session.conv.send_text("what is my name")
    assert "my name is Ada" in session.finals("assistant")[1].text  # the turns came along

    before = len(session.statuses)
    status = await session.conv.toggle_mode()
    assert (status.mode, status.state) == ("realtime", "live")
    # Back to realtime: the editor sees the call being opened, never LIVE before it is.
    seen = [(s.mode, s.state) for s in session.statuses[before:]]
    assert seen[0] == ("realtime", "connecting") and seen[-1] == ("realtime", "live"), seen
    audio = [s.audio for s in session.statuses[before:]]
    assert audio[-1] == "live" and set(audio[:-1]) == {"off"}, audio  # LIVE once the call is
    await session.conv.send_text("and now")
    await session.until(lambda: len(session.finals("assistant")) == 3)
    # The new call was given the earlier turns: the peer's reply refers to them.
    assert "what is my name" in session.finals("assistant")[2].text
    # Replayed turns are not shown again: each turn reached the editor once.
    users = [u.text for u in session.finals("user")]
    assert users == ["my name is Ada", "what is my name", "and now"]


async def test_voice_choices_survive_toggling_twice(peer: Any) -> None:
    s = Session(Settings(peer=peer.base_url, voice="verse", text_voice="onyx"))
    try:
        assert s.conv.status.voice == "verse"
        for _ in range(2):
            assert (await s.conv.toggle_mode()).voice == "onyx"
            assert (await s.conv.toggle_mode()).voice == "verse"
    finally:
        await s.conv.close()


async def test_a_configured_text_only_voice_is_text_modes_choice(peer: Any) -> None:
    # onyx exists only in text mode: realtime maps it (echo), text mode keeps it.
    s = Session(Settings(peer=peer.base_url, voice="onyx"))
    try:
        assert s.conv.status.voice == "echo"
        for _ in range(2):
            assert (await s.conv.toggle_mode()).voice == "onyx"
            assert (await s.conv.toggle_mode()).voice == "echo"
    finally:
        await s.conv.close()


async def test_a_reconnected_call_keeps_the_users_model_voice_and_instructions(
    session: Session,
) -> None:
    conv = session.conv
    await conv.start(model="gpt-realtime-mini", voice="sage", instructions="Answer in French.")
    first = conv.realtime.call
    assert first is not None
    # Unrelated settings change: same call, same choices.
    conv.config.replace(conv.settings.with_changes({"insertTranscripts": "both"}))
    assert conv.realtime.call is first and conv.status.model == "gpt-realtime-mini"
    # The configured model changes: that is the newest choice, the call is replaced with it;
    # the voice and instructions the user chose stay.
    conv.config.replace(conv.settings.with_changes({"model": "gpt-4o-realtime-preview"}))
    await session.until(
        lambda: conv.realtime.call not in (None, first) and conv.status.state == "live"
    )
    call = conv.realtime.call
    assert call is not None
    assert call.session.model == "gpt-4o-realtime-preview"
    assert call.session.audio.output.voice == "sage"
    assert call.session.instructions == "Answer in French."
    assert (conv.status.model, conv.status.voice) == ("gpt-4o-realtime-preview", "sage")
    # A settings change the session does not depend on never rebuilds the call.
    conv.config.replace(conv.settings.with_changes({"replayTurns": 5}))
    assert conv.realtime.call is call


async def test_voices_map_across_sets_and_back(peer: Any) -> None:
    s = Session(Settings(peer=peer.base_url))
    try:
        await s.conv.start(mode="text", voice="nova")
        assert (await s.conv.toggle_mode()).voice == "shimmer"  # nova is no realtime voice
        assert (await s.conv.toggle_mode()).voice == "nova"  # and the choice came back
        await s.conv.stop()
        await s.conv.start(mode="text", voice="fable")
        assert (await s.conv.toggle_mode()).voice == "ballad"
    finally:
        await s.conv.close()


async def test_unknown_voice_falls_back_and_says_so(peer: Any) -> None:
    s = Session(Settings(peer=peer.base_url))
    try:
        status = await s.conv.start(mode="text", voice="darth")
        assert status.voice == "alloy"
        assert s.messages == ["vivavoce: voice 'darth' is not a known text voice; using 'alloy'"]
    finally:
        await s.conv.close()


async def test_refused_call_rolls_back_to_text_with_the_servers_message(peer: Any) -> None:
    # The realtime model does not exist: the server refuses the call.
    s = Session(Settings(peer=peer.base_url, model="gpt-nope"))
    try:
        await s.conv.start(mode="text")
        await s.conv.send_text("remember this")
        status = await s.conv.toggle_mode()
        assert (status.mode, status.state) == ("text", "live")
        assert status.error is not None and "Invalid value: 'gpt-nope'" in status.error
        assert len(s.messages) == 1 and s.messages[0].startswith("vivavoce stayed in text mode")
        assert "\n" not in s.messages[0]
        await s.conv.send_text("still here")
        assert "remember this" in s.finals("assistant")[-1].text  # nothing was lost
    finally:
        await s.conv.close()


async def test_push_to_talk_makes_one_turn_per_press_and_release(
    peer: Any, speak: Callable[[str], Awaitable[Any]]
) -> None:
    s = Session(Settings(peer=peer.base_url, push_to_talk="hold"))
    try:
        await s.conv.start()
        sentence = await speak("please open the main file")
        s.audio.speak(sentence, 16000)  # the key is up: nobody hears this
        await asyncio.sleep(2.5)
        assert s.finals("user") == []
        for n in (1, 2):
            await s.conv.push_to_talk(True)
            assert s.conv.status.push_to_talk is True
            s.audio.speak(sentence, 16000)
            await asyncio.wait_for(s.audio.source.drained.wait(), 10)
            await asyncio.sleep(0.3)
            await s.conv.push_to_talk(False)
            await s.until(lambda n=n: len(s.finals("assistant")) == n)  # type: ignore[misc]
            assert len(s.finals("user")) == n
        assert all(overlap("please open the main file", u.text) >= 0.6 for u in s.finals("user"))
    finally:
        await s.conv.close()


async def test_interrupt_stops_the_voice_and_marks_the_turn(session: Session) -> None:
    await session.conv.start()
    sink = session.audio.sink
    long_text = " ".join(f"This is sentence number {n} of a long answer." for n in range(12))
    await session.conv.send_text(long_text)
    await session.until(lambda: sink.audible_frames > 25)  # half a second of the reply heard
    await session.conv.interrupt()
    stopped_at = sink.frames
    await asyncio.sleep(1.0)
    # At most a few frames already in flight arrive after the interruption.
    tail = sink.chunks[stopped_at + 10 :]
    assert tail and all(rms_dbfs(c) < -50 for c in tail)
    await session.until(lambda: any(u.interrupted for u in session.finals("assistant")))
    cut = next(u for u in session.finals("assistant") if u.interrupted)
    assert cut.text and len(cut.text) < len(long_text)  # what was not said is not shown
    assert [t.interrupted for t in session.conv.turns if t.role == "assistant"] == [True]
    assert session.audio.flushes >= 1


async def test_an_interrupt_truncates_to_no_more_than_the_server_sent(
    peer: Any, session: Session
) -> None:
    """Interrupting just as the voice begins (our clock against the frames the server sent) and
    again after a pause in a slow reply (the server does not count the silence it filled it
    with): the server accepts each truncate, and one it refuses anyway (a race with its own) is
    logged, not shown."""
    from vivavoce.realtime import events as ev

    synthesizer = peer.peer.services.synthesizer
    fast = synthesizer.synthesize

    async def slow_after_the_first(text: str, *args: Any) -> Any:
        if not text.startswith("This is sentence number 0 "):
            await asyncio.sleep(2.0)  # longer than one sentence plays: a pause in the voice
        return await fast(text, *args)

    synthesizer.synthesize = slow_after_the_first
    await session.conv.start()
    call = session.conv.realtime.call
    assert call is not None
    seen: list[ev.ServerEvent] = []

    async def watch() -> None:
        async for event in call.events():
            seen.append(event)
            session.changed.set()

    watcher = asyncio.create_task(watch())
    long_text = " ".join(f"This is sentence number {n} of a long answer." for n in range(8))

    def count(kind: type[ev.ServerEvent]) -> int:
        return sum(isinstance(e, kind) for e in seen)

    for round_, wait_frames in enumerate((1, 250)):  # 250 frames: 5 s, past the pause
        await session.conv.send_text(long_text)
        await session.until(lambda r=round_: count(ev.OutputAudioStarted) > r)  # type: ignore[misc]
        frames = session.audio.sink.audible_frames
        await session.until(lambda f=frames + wait_frames: session.audio.sink.audible_frames >= f)  # type: ignore[misc]
        await session.conv.interrupt()
        await session.until(lambda r=round_: count(ev.ItemTruncated) + count(ev.ErrorEvent) > r)  # type: ignore[misc]
    assert count(ev.ErrorEvent) == 0
    # A truncate past the audio (what a racing one looks like) is refused and not shown.
    item = next(e.item_id for e in seen if isinstance(e, ev.ItemTruncated))
    await call.send(ev.ItemTruncate(item_id=item, audio_end_ms=3_600_000))
    await session.until(lambda: count(ev.ErrorEvent) == 1)
    await asyncio.sleep(0.2)
    assert session.messages == []
    watcher.cancel()


async def test_changing_the_voice_mid_call_reconnects_and_keeps_the_conversation(
    session: Session,
) -> None:
    first = await session.conv.start()
    await session.conv.send_text("my name is Ada")
    await session.until(lambda: len(session.finals("assistant")) == 1)
    session.conv.config.replace(session.conv.settings.with_changes({"voice": "sage"}))
    await session.until(
        lambda: session.conv.status.state == "live" and session.conv.status.call_id != first.call_id
    )
    assert session.conv.status.voice == "sage"
    assert "reconnecting" in [st.state for st in session.statuses]
    await session.conv.send_text("who am I")
    await session.until(lambda: len(session.finals("assistant")) == 2)
    assert "my name is Ada" in session.finals("assistant")[1].text


async def test_a_dropped_call_reconnects_with_its_conversation() -> None:
    from vivavoce.peer import start_peer

    first = await start_peer(host="127.0.0.1", port=0)
    port = first.port
    s = Session(Settings(peer=first.base_url))
    second = None
    try:
        call_id = (await s.conv.start()).call_id
        await s.conv.send_text("my name is Ada")
        await s.until(lambda: len(s.finals("assistant")) == 1)
        await first.close()  # the server goes away mid-call...
        second = await start_peer(host="127.0.0.1", port=port)  # ...and comes back
        await s.until(lambda: s.conv.status.state == "live" and s.conv.status.call_id != call_id)
        assert "reconnecting" in [st.state for st in s.statuses]
        assert s.conv.status.mode == "realtime" and s.messages == []
        await s.conv.send_text("who am I")
        await s.until(lambda: len(s.finals("assistant")) == 2)
        assert "my name is Ada" in s.finals("assistant")[1].text
    finally:
        await s.conv.close()
        await first.close()
        if second is not None:
            await second.close()


async def test_push_to_talk_in_text_mode_dictates_a_turn(
    session: Session, speak: Callable[[str], Awaitable[Any]]
) -> None:
    await session.conv.start(mode="text")
    assert session.conv.status.wire()["audio"] == "off"
    await session.conv.push_to_talk(True)
    # The key is down: the microphone records for dictation, which is not a LIVE call.
    assert session.conv.status.wire()["audio"] == "dictating"
    session.audio.speak(await speak("please open the main file"), 16000)
    await session.conv.push_to_talk(False)  # → /audio/transcriptions → a typed turn
    user = session.finals("user")
    assert len(user) == 1 and overlap("please open the main file", user[0].text) >= 0.6
    assert user[0].text in session.finals("assistant")[0].text  # and it was answered
    assert session.conv.status.push_to_talk is False
    assert session.conv.status.wire()["audio"] == "off"


async def test_a_second_concurrent_close_returns_only_when_everything_is_released(
    session: Session,
) -> None:
    from vivavoce.realtime import CallState

    conv = session.conv
    await conv.start()
    call = conv.realtime.call
    assert call is not None
    first = asyncio.ensure_future(conv.close())
    await asyncio.sleep(0)
    await conv.close()  # while the first is still hanging up
    assert call.state is CallState.CLOSED
    assert conv.status.state == "idle" and session.audio.closed
    await first


@pytest.mark.slow
async def test_twenty_barge_ins_in_a_row_tell_the_user_nothing(
    session: Session, speak: Callable[[str], Awaitable[Any]]
) -> None:
    """Talking over the assistant is normal: the server cuts its reply (over WebRTC it truncates
    by itself), our speaker stops, and not one message reaches the user."""
    conv, sink = session.conv, session.audio.sink
    words = await speak("wait a moment please")
    long_text = " ".join(f"This is sentence number {n} of a long answer." for n in range(12))
    await conv.start()

    seen: set[str] = set()

    def new_reply() -> TranscriptUpdate | None:  # an answer being said that was not cut yet
        return next(
            (u for u in session.updates if u.role == "assistant" and u.item_id not in seen), None
        )

    await conv.send_text(long_text)
    for _ in range(20):  # the user keeps talking over each answer, including to what they said
        await session.until(lambda: new_reply() is not None)
        item = new_reply()
        assert item is not None
        seen.add(item.item_id)
        playing = sink.audible_frames
        await session.until(lambda p=playing: sink.audible_frames > p + 10)  # type: ignore[misc]
        session.audio.speak(words, 16000)
        await session.until(
            lambda i=item.item_id: any(  # type: ignore[misc]
                u.item_id == i and u.final and u.interrupted for u in session.updates
            )
        )
    cut = [u for u in session.finals("assistant") if u.interrupted]
    assert len(cut) >= 20
    assert session.messages == []  # nothing shown, not once


@pytest.mark.slow
async def test_a_long_conversation_spans_sessions_without_a_lost_turn_or_an_error() -> None:
    """Sessions end at a time limit (60 minutes on api.openai.com; 20 s here): the conversation
    moves to a new session at a pause, or recovers an expired one, and the user sees nothing."""
    from vivavoce.peer import start_peer

    peer = await start_peer(host="127.0.0.1", port=0, max_session_seconds=20)
    s = Session(Settings(peer=peer.base_url))
    loop = asyncio.get_running_loop()
    try:
        calls = {(await s.conv.start()).call_id}
        started, n = loop.time(), 0
        while loop.time() - started < 60:
            await s.conv.send_text(f"note number {n}")
            await s.until(lambda n=n: len(s.finals("assistant")) == n + 1)  # type: ignore[misc]
            calls.add(s.conv.status.call_id)
            n += 1
            await asyncio.sleep(3)  # a pause: where a session is renewed before it expires
        assert len(calls - {None}) >= 3  # three sessions at least
        said = [t.text for t in s.conv.turns if t.role == "user"]
        assert said == [f"note number {i}" for i in range(n)]  # no turn lost, in order
        answers = [t.text for t in s.conv.turns if t.role == "assistant"]
        assert len(answers) == n and all(f"note number {i}" in a for i, a in enumerate(answers))
        assert s.messages == []
        assert all(st.error is None for st in s.statuses)  # nothing shown, not even in the status
    finally:
        await s.conv.close()
        await peer.close()


async def test_a_turn_typed_as_the_session_is_renewed_is_answered_once(session: Session) -> None:
    """The renewal comes at a turn boundary; a turn typed at that moment (sent on the old call,
    its reply not yet asked for) is not a boundary: it is answered, on either call, and the
    renewal waits for the next boundary."""
    conv = session.conv
    await conv.start()
    old = conv.realtime.call
    assert old is not None
    old.expires_at = time.time()  # the server's time limit, reached now
    typed = asyncio.create_task(conv.send_text("note number one"))
    renewal = asyncio.create_task(conv.realtime._renew_before_expiry(old))
    await asyncio.wait_for(renewal, 30)
    await typed
    await session.until(lambda: len(session.finals("assistant")) == 1)
    assert "note number one" in session.finals("assistant")[0].text
    assert conv.realtime.call is not old and conv.status.state == "live"
    assert [t.text for t in conv.turns if t.role == "user"] == ["note number one"]
    assert session.messages == []


EXPIRY_KEY = "sk-test-expiry"


async def expire_now(peer: Any) -> None:
    """The session of every call on ``peer`` (started with ``fault_admin``) ends now."""
    async with httpx.AsyncClient() as http:
        fired = await http.post(
            f"{peer.base_url}/_admin/faults",
            json={"fire": ["session-expired"]},
            headers={"Authorization": f"Bearer {EXPIRY_KEY}"},
        )
    assert fired.status_code == 200


async def test_a_reply_cut_off_by_the_session_expiring_comes_on_the_next_call() -> None:
    """The server ends a session at its time limit whatever is under way: the reply it was
    making for a typed turn never comes on that call, so the next call is asked for it."""
    from vivavoce.peer import start_peer

    peer = await start_peer(host="127.0.0.1", port=0, api_key=EXPIRY_KEY, fault_admin=True)
    s = Session(Settings(peer=peer.base_url, api_key=EXPIRY_KEY))
    try:
        first = (await s.conv.start()).call_id
        await s.conv.send_text("note number one")
        await expire_now(peer)  # before its reply is done (≈ 2 s of speech)
        assert s.finals("assistant") == []  # the reply was under way when the session ended
        await s.until(lambda: len(s.finals("assistant")) == 1)
        assert "note number one" in s.finals("assistant")[0].text
        assert s.conv.status.call_id not in (None, first)
        assert [t.text for t in s.finals("user")] == ["note number one"]  # said once
        assert s.messages == []  # a renewal, not a fault: nothing to tell the user
    finally:
        await s.conv.close()
        await peer.close()


async def test_a_reply_owed_to_a_tools_output_is_not_asked_again_on_the_next_call() -> None:
    """A session that ends while the reply to a voice tool's output is on its way: the next
    call is not asked for it (the model would run the tool again: an edit made twice)."""
    from tests.unit.test_tools import MemoryEditor
    from vivavoce.peer import start_peer

    peer = await start_peer(host="127.0.0.1", port=0, api_key=EXPIRY_KEY, fault_admin=True)
    editor = MemoryEditor()
    s = Session(Settings(peer=peer.base_url, api_key=EXPIRY_KEY), Toolbox(editor, lambda: "active"))
    try:
        first = (await s.conv.start()).call_id
        await s.conv.send_text("insert hello world at the cursor")
        await s.until(lambda: any(u.role == "assistant" for u in s.updates))  # its reply begins
        await expire_now(peer)
        await s.until(lambda: s.conv.status.state == "live" and s.conv.status.call_id != first)
        await asyncio.sleep(3)  # what the new call does with the turns it was given
        assert len(editor.edits) == 1, editor.edits
        assert s.messages == []
    finally:
        await s.conv.close()
        await peer.close()


async def test_typed_turns_while_the_assistant_speaks_are_answered_not_refused(
    session: Session,
) -> None:
    """One response at a time: what is typed during a reply waits its turn and is answered;
    the user never sees "conversation already has an active response"."""
    conv = session.conv
    await conv.start()
    await conv.send_text("first, a long question about sentence number one and two and three")
    await session.until(lambda: any(u.role == "assistant" for u in session.updates))
    await conv.send_text("second")  # while the first reply runs
    await conv.send_text("third")  # and again
    await session.until(lambda: len(session.finals("user")) == 3)
    await session.until(lambda: any("third" in u.text for u in session.finals("assistant")))
    assert session.messages == []
    said = [t.text for t in conv.turns if t.role == "user"]
    assert said[1:] == ["second", "third"]


async def test_a_sentence_paused_to_think_is_one_user_turn_by_default(
    peer: Any, speak: Callable[[str], Awaitable[Any]]
) -> None:
    """The defaults (semantic_vad low, far_field) reach the peer, which waits through a 1.5 s
    pause after "so the function should" for the rest of the sentence."""
    s = Session(Settings(peer=peer.base_url))
    try:
        await s.conv.start()
        (call,) = peer.calls.values()
        audio_input = call.session.session.audio.input
        assert audio_input.turn_detection == SemanticVad(eagerness="low")
        assert audio_input.noise_reduction == NoiseReduction(type="far_field")
        first, second = await speak("so the function should"), await speak("return the user name")
        s.audio.speak(np.concatenate([first, np.zeros(24000, np.int16), second]), 16000)
        await s.until(lambda: len(s.finals("assistant")) == 1)
        (turn,) = s.finals("user")
        assert overlap("so the function should return the user name", turn.text) >= 0.7
    finally:
        await s.conv.close()
