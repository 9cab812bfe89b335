"""One WebRTC call of the local peer: the peer connection, its data channel and audio.

:class:`PeerCall` answers an SDP offer on loopback-only ICE (host candidates on the bound
address; trickled offers work because aioice learns the client from its STUN checks), then:

* ``assistant`` mode: feeds every decoded remote frame (48 kHz stereo) to a
  :class:`~vivavoce.peer.session.RealtimeSession` as 16 kHz mono, continuously, and plays the
  session's speech on a paced :class:`~vivavoce.rtc.tracks.PcmSourceTrack`;
* ``echo`` mode: sends the remote track straight back (no VAD, no recognition), for latency
  measurements.

It implements the session's :class:`~vivavoce.peer.session.Transport`. Everything a call
starts is a named task in its :class:`~vivavoce.tasks.TaskSet`, cancelled by :meth:`close`
(idempotent: a second caller waits until the first has finished); an exception in one of them
closes this call only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ..realtime.events import Dialect, Session
from ..rtc import prepare_aiortc, rtc_configuration
from ..rtc.ice import host_addresses, loopback_hosts_for
from ..rtc.tracks import Pcm
from ..tasks import CloseOnce, TaskSet
from .faults import Faults, call_fault_messages, rejection
from .options import PeerMode, PeerOptions
from .services import Services
from .session import RealtimeSession

log = logging.getLogger(__name__)

#: A call whose connection is not up this long after the answer is closed.
CONNECT_TIMEOUT = 30.0


class PeerCall:
    """A call, from offer to hangup."""

    def __init__(
        self,
        call_id: str,
        services: Services,
        *,
        session: Session,
        dialect: Dialect = "ga",
        mode: PeerMode = "assistant",
        host: str = "127.0.0.1",
        on_closed: Callable[[PeerCall], None] | None = None,
        faults: Faults | None = None,
        options: PeerOptions | None = None,
    ) -> None:
        self.id = call_id
        self.options = options or PeerOptions()
        self.faults = faults or Faults()
        self.mode: PeerMode = mode
        self.dialect: Dialect = dialect
        self._host = host
        self._on_closed = on_closed
        self._pc: Any = None
        self._channel: Any = None
        self._source: Any = None  # rtc.tracks.PcmSource, assistant mode with audio
        self._tasks = TaskSet(f"peer call {call_id}")
        self._closing = CloseOnce()
        self._close_soon: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()
        self.session = RealtimeSession(
            self,
            services,
            session=session,
            dialect=dialect,
            on_failure=self.close_soon,
            name=call_id,
            options=self.options,
        )

    # ------------------------------------------------------------------ Transport

    @property
    def has_audio(self) -> bool:
        return self._source is not None

    @property
    def audio_in_events(self) -> bool:
        return False  # speech plays on the track, in real time

    def send_text(self, text: str) -> None:
        ch = self._channel
        if ch is not None and ch.readyState == "open":
            ch.send(text)

    def play(self, pcm: Pcm, rate: int) -> None:
        if self._source is not None:
            self._source.feed(pcm, rate)

    def clear_audio(self) -> None:
        if self._source is not None:
            self._source.clear()

    @property
    def queued_seconds(self) -> float:
        return float(self._source.queued_seconds) if self._source is not None else 0.0

    async def played(self) -> None:
        if self._source is not None:
            await self._source.drained.wait()
            # The last frame taken from the queue is still being sent; wait for it.
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ setup

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = self._tasks.spawn(coro, name)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # The task set logs the failure; a call missing one of its parts is hung up.
        if not task.cancelled() and task.exception() is not None:
            self.close_soon()

    def _fatal(self, exc: BaseException) -> None:
        log.error("%s: closing the call after an error", self.id, exc_info=exc)
        self.close_soon()

    async def answer(self, offer_sdp: str) -> str:
        """Accept the client's offer; return the answer SDP (with our candidates)."""
        prepare_aiortc()
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(rtc_configuration([]))
        self._pc = pc

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label != "oai-events":
                log.debug("%s: ignoring data channel %r", self.id, channel.label)
                return
            self._channel = channel

            def on_message(message: str | bytes) -> None:
                if self.faults.on("reject-events"):
                    self.send_text(rejection(message))
                    return
                try:
                    self.session.handle_message(message)
                except Exception as exc:
                    self._fatal(exc)

            channel.on("message", on_message)
            if channel.readyState == "open":
                self._started()
            else:
                channel.on("open", self._started)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "audio":
                return
            if self.mode == "echo":
                pc.addTrack(track)
                return
            from ..rtc.tracks import PcmSource, PcmSourceTrack

            self._source = PcmSource()
            pc.addTrack(PcmSourceTrack(self._source))
            self._spawn(self._drain(track), "audio-in")

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            log.debug("%s: connection %s", self.id, state)
            if state == "connected":
                self.connected.set()
            elif state in ("failed", "closed"):
                self.close_soon()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await pc.createAnswer()
        # Bound to a wildcard address: let aioice offer every interface.
        wildcard = self._host in ("", "0.0.0.0", "::")  # noqa: S104
        hosts = None if wildcard else loopback_hosts_for(self._host) or [self._host]
        with host_addresses(hosts):
            await pc.setLocalDescription(answer)
        self._spawn(self._watch_connect(), "connect-timeout")
        sdp: str = pc.localDescription.sdp
        return sdp

    def _started(self) -> None:
        self.session.start()
        self._spawn(self._expire_later(self.options.max_session_seconds), "session lifetime")
        for name in self.faults.call_faults():
            self._spawn(self._fire_later(name, self.faults.delay), f"fault {name}")

    async def _expire_later(self, seconds: float) -> None:
        """End the call at the session's maximum duration, with the ``session_expired`` error."""
        await asyncio.sleep(seconds)
        log.info("%s: session expired after %g s", self.id, seconds)
        self.session.expire()
        # Let the error leave before the connection goes (aiortc sends it asynchronously).
        for _ in range(25):
            if self._channel is None or not self._channel.bufferedAmount:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        self.close_soon()

    async def _fire_later(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.inject(name)

    def inject(self, name: str) -> None:
        """Misbehave now (a call fault of :mod:`.faults`): send its messages, maybe hang up."""
        messages, close = call_fault_messages(name)
        log.warning("%s: injecting fault %s", self.id, name)
        for message in messages:
            try:
                self.send_text(message)
            except Exception as exc:  # e.g. aiortc refusing a message over its limit
                log.warning("%s: fault %s could not be sent: %s", self.id, name, exc)
        if close:
            if self._channel is not None:
                self._channel.close()
            self.close_soon()

    async def _watch_connect(self) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            log.info("%s: no connection after %.0f s; closing", self.id, CONNECT_TIMEOUT)
            self.close_soon()

    async def _drain(self, track: Any) -> None:
        """Read the caller's audio continuously and hand it to the session as 16 kHz mono."""
        from aiortc.mediastreams import MediaStreamError

        from ..rtc.tracks import Resampler, to_mono

        resampler: Resampler | None = None
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if resampler is None or resampler.src_rate != frame.sample_rate:
                resampler = Resampler(frame.sample_rate, 16000)
            self.session.on_audio(resampler(to_mono(frame)))

    # ------------------------------------------------------------------ teardown

    def close_soon(self) -> None:
        """Start closing (from a callback); :meth:`close` does the work."""
        if not self._closing.started and self._close_soon is None:
            self._close_soon = self._tasks.spawn(self.close(), "close")

    async def close(self) -> None:
        """Hang up: stop the session and its tasks, close the peer connection.

        Idempotent; a second caller, even a concurrent one, returns once the first has finished.
        """
        await self._closing.run(self._close)

    async def _close(self) -> None:
        try:
            await self.session.close()
            await self._tasks.cancel_all()
            if self._pc is not None:
                try:
                    await self._pc.close()
                except Exception as exc:  # e.g. aiortc after an offer it could not answer
                    log.warning("%s: closing the peer connection failed: %r", self.id, exc)
        finally:
            self.closed.set()
            if self._on_closed is not None:
                self._on_closed(self)
            log.info("%s: call closed", self.id)
