"""``vivavoce demo``: one complete spoken exchange, offline by default.

It starts the local peer in this process (unless a real server is asked for), speaks a
synthesized user sentence into a call as if it were the microphone, shows a LIVE indicator and
both sides' transcripts as they stream, writes the assistant's audio to a WAV file (and plays it
with ``--speaker``), and ends with a summary: connect time, time to first assistant audio, turns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .errors import VivavoceError

if TYPE_CHECKING:
    from .realtime import TranscriptUpdate

DEFAULT_SENTENCE = "Please open the main file and show me the test results."
USER_VOICE = "rms"  # flite's clearest voice for offline recognition (FACTS.md: ≈19 % WER)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--say", default=DEFAULT_SENTENCE, help="what the synthetic user says")
    parser.add_argument(
        "--type",
        dest="typed",
        default="What can you do for me?",
        help="a typed follow-up message ('' for none)",
    )
    parser.add_argument(
        "--base-url",
        help="a real Realtime server (default: the local peer, "
        "or OpenAI when OPENAI_API_KEY is set)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="folder for the assistant's audio (default: ./demo-output)",
    )
    parser.add_argument(
        "--speaker",
        action="store_true",
        help="also play the assistant's audio on the default speaker",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole demo")


@dataclass
class Summary:
    connect_ms: float = 0.0
    first_audio_ms: float | None = None
    turns: list[TranscriptUpdate] = field(default_factory=list)
    wav: Path | None = None
    server: str = ""


class _Screen:
    """Streams transcript updates: deltas extend the current line, finals close it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.color = out.isatty() and not os.environ.get("NO_COLOR")
        self._open: str | None = None

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def status(self, text: str, live: bool = False) -> None:
        self._close_line()
        if live:
            print(self._paint(" ● LIVE ", "1;37;41"), text, file=self.out, flush=True)
        else:
            print(self._paint(f"[{text}]", "2"), file=self.out, flush=True)

    def update(self, u: TranscriptUpdate) -> None:
        who = (
            self._paint("you      ", "1;36")
            if u.role == "user"
            else self._paint("assistant", "1;35")
        )
        if u.delta is not None:
            if self._open != u.item_id:
                self._close_line()
                print(f"{who} ▸ ", end="", file=self.out)
                self._open = u.item_id
            print(u.delta, end="", file=self.out, flush=True)
            return
        if self._open == u.item_id:  # the deltas already showed the text
            print(" ✓" if not u.interrupted else " (interrupted)", file=self.out, flush=True)
            self._open = None
            return
        self._close_line()
        print(f"{who} ▸ {u.text} ✓", file=self.out, flush=True)

    def _close_line(self) -> None:
        if self._open is not None:
            print(file=self.out)
            self._open = None


async def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> Summary:
    """The demo itself; raises VivavoceError on failure."""
    from .conversation import session_for
    from .peer.tts import Synthesizer
    from .realtime import Call, CallOptions, CallState, TranscriptUpdate
    from .realtime import events as ev
    from .rtc.tracks import WavSink
    from .settings import OPENAI_BASE_URL, load_settings

    screen = _Screen(out)
    base_url = args.base_url or (OPENAI_BASE_URL if os.environ.get("OPENAI_API_KEY") else None)
    settings = load_settings(peer="openai" if base_url else "embedded")
    summary = Summary()
    async with contextlib.AsyncExitStack() as stack:
        if base_url is None:
            from .peer import start_peer

            screen.status("starting the local peer (offline)")
            peer = await start_peer(host="127.0.0.1", port=0)
            stack.push_async_callback(peer.close)
            base_url = peer.base_url
        summary.server = base_url

        screen.status(f"synthesizing the user's sentence: {args.say!r}")
        from .rtc import prepare_aiortc

        # Load WebRTC meanwhile, so that "connect" below measures the call, not imports.
        synthesis = asyncio.ensure_future(Synthesizer().synthesize(args.say, voice=USER_VOICE))
        await asyncio.to_thread(prepare_aiortc)
        speech = await synthesis

        args.out.mkdir(parents=True, exist_ok=True)
        summary.wav = args.out / "assistant.wav"
        sink = WavSink(summary.wav)

        def on_state(state: CallState, error: VivavoceError | None) -> None:
            if state is CallState.CONNECTING:
                screen.status(f"connecting to {base_url}")
            elif state is CallState.LIVE:
                screen.status(f"{base_url}", live=True)
            elif state is CallState.CLOSED:
                screen.status("call closed")

        options = CallOptions.from_settings(settings, base_url)
        call = Call(session_for(settings), options, sink=sink, on_state=on_state)
        stack.push_async_callback(call.close)
        await call.start()
        summary.connect_ms = call.timings["live"]

        finals = asyncio.Queue[TranscriptUpdate]()
        playback_done = asyncio.Event()

        async def show() -> None:
            async for update in call.transcripts():
                screen.update(update)
                if update.final:
                    summary.turns.append(update)
                    finals.put_nowait(update)

        async def watch_audio() -> None:
            async for event in call.events():
                if isinstance(event, ev.OutputAudioStopped):
                    playback_done.set()

        tasks = [
            asyncio.create_task(show(), name="demo transcripts"),
            asyncio.create_task(watch_audio(), name="demo audio events"),
        ]
        stack.callback(lambda: [t.cancel() for t in tasks])

        async def assistant_turn() -> None:
            while (await finals.get()).role != "assistant":
                pass
            await asyncio.wait_for(playback_done.wait(), 15)
            playback_done.clear()

        # Speak: the sentence goes out as the microphone would send it, then silence.
        call.source.feed(speech, rate=16000)
        await call.source.drained.wait()
        spoken_at = time.monotonic()
        await assistant_turn()
        if sink.first_audible_at is not None:
            summary.first_audio_ms = max(0.0, (sink.first_audible_at - spoken_at) * 1000)
        if args.typed:
            screen.status(f"typing: {args.typed!r}")
            await call.send_text(args.typed)
            await assistant_turn()
        await call.close()
    if args.speaker:
        await _play(summary.wav, screen)
    return summary


async def _play(path: Path | None, screen: _Screen) -> None:
    if path is None:
        return
    try:
        import sounddevice as sd

        from .rtc.tracks import read_wav

        samples, rate = read_wav(path)
        await asyncio.to_thread(lambda: (sd.play(samples, rate), sd.wait()))
    except Exception as exc:  # no PortAudio, no device: the WAV file is still there
        screen.status(
            f"could not play on a speaker ({type(exc).__name__}: {exc}); the audio is in {path}"
        )


def print_summary(summary: Summary, out: TextIO = sys.stdout) -> None:
    first = f"{summary.first_audio_ms:.0f} ms" if summary.first_audio_ms is not None else "none"
    users = sum(1 for t in summary.turns if t.role == "user")
    assistants = sum(1 for t in summary.turns if t.role == "assistant")
    lines = [
        "",
        "─" * 60,
        f" server                  {summary.server}",
        f" connect (start → LIVE)  {summary.connect_ms:.0f} ms",
        f" first assistant audio   {first} after the user stopped speaking",
        f" turns                   {users} user, {assistants} assistant",
        f" assistant audio         {summary.wav}",
        "─" * 60,
    ]
    print("\n".join(lines), file=out, flush=True)


def main(args: argparse.Namespace) -> int:
    try:
        summary = asyncio.run(asyncio.wait_for(run_demo(args), args.timeout))
    except VivavoceError as exc:
        print(f"vivavoce demo: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"vivavoce demo: no complete exchange within {args.timeout:g} s", file=sys.stderr)
        return 1
    print_summary(summary)
    return 0
