"""Opus silence without the codec, and audio decoded on the event loop (no thread hop).

A call sends digital silence most of the time: the peer between its replies, the client while
the user is quiet or muted (≈ 85 % of frames in the load bench). aiortc 1.16 still encodes each
of those 20 ms frames (mono → stereo resampling, then Opus at 96 kbps, ≈ 110 µs, in the default
thread pool: a future, a lock and a wake-up per frame) and decodes each one on the other side
in a thread per receiver that hands every frame back to the loop through
``run_coroutine_threadsafe`` (a coroutine, a task and two futures per frame). Measured in the
load bench, those hand-offs cost the peer's loop more than the codec itself.

* :class:`SilenceOpusEncoder` learns the packet its encoder makes for digital silence (libopus
  settles on one 3-byte packet, ``fc ff fe``, two frames after the sound stops) and, once the
  encoder made that same packet for :data:`SETTLED` zero frames in a row, sends it for further
  zero frames without encoding. The encoder then has not seen those frames: the first packets
  of the next sound differ in their bits from a fully encoded stream, not in fidelity
  (``tests/unit/test_opus_silence.py`` compares both with the original). Timestamps are the
  frames' own, as aiortc's (the codec alone would count only the samples it was given).
* :class:`SilenceOpusDecoder` learns the packet that decodes to exact zeros and, once it
  decoded to zeros :data:`SETTLED` times in a row, answers further copies of those bytes with
  a zero frame without decoding. The Opus decoder's state is then the state it reaches on
  that packet anyway (decoding is a fixed point there: the output after skipped packets is
  bit-exact, pinned by the tests). A remote whose silence is not bit-identical (comfort
  noise, a real microphone) is decoded as before: nothing is assumed about foreign packets.
* The sender takes the cached packet on the loop (no executor hop for silence), and audio
  receivers decode on the loop as packets arrive instead of in their thread: Opus decodes a
  20 ms frame in ≈ 50–70 µs, less than the hand-off it replaces. Video keeps aiortc's thread.

:func:`install` puts these into aiortc (idempotent; :func:`vivavoce.rtc.prepare_aiortc`).
``VIVAVOCE_RTC_SHORTCUTS=0`` (:mod:`.shortcuts`) leaves aiortc as it is, and with it
:mod:`.clock` and the :class:`~vivavoce.rtc.tracks.Resampler`'s silence shortcut (the
``callcpu`` benchmark measures both paths side by side with it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .shortcuts import enabled
from .tracks import DIGITAL_SILENCE, FRAME_SAMPLES, silent_frame

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

#: Identical silent packets in a row before the codec is skipped for the next ones.
SETTLED = 3
MIN_AUDIO_LEVEL = -127  # RFC 6465: the level of digital silence


def is_digital_silence(frame: av.AudioFrame) -> bool:
    """Whether every sample of a packed s16 frame is exactly zero (known at once for a frame
    made as silence, :data:`~vivavoce.rtc.tracks.DIGITAL_SILENCE`)."""
    if frame.opaque is DIGITAL_SILENCE:
        return True
    if frame.format.name != "s16":
        return False
    plane = np.frombuffer(memoryview(frame.planes[0]), dtype=np.int16)
    return not plane[: frame.samples * frame.layout.nb_channels].any()


_ENCODER: type[Any] | None = None
_DECODER: type[Any] | None = None


def encoder_class() -> type[Any]:
    """:class:`SilenceOpusEncoder` (built on first use: aiortc loads lazily)."""
    global _ENCODER
    if _ENCODER is None:
        from aiortc.codecs.opus import OpusEncoder

        class SilenceOpusEncoder(OpusEncoder):
            """aiortc's Opus encoder that sends its own settled silent packet for zero frames."""

            def __init__(self) -> None:
                super().__init__()
                self.silent_packet: bytes | None = None
                self.skipped = 0  # frames answered without encoding
                self._run = 0  # zero frames in a row that encoded to ``silent_packet``
                self._first_pts: int | None = None  # the pts of timestamp 0
                self._aligned = True  # every packet's timestamp was its frame's pts so far

            def encode_silence(self, frame: av.AudioFrame) -> tuple[list[bytes], int] | None:
                """The settled silent packet and the frame's timestamp when ``frame`` is
                digital silence and the encoder has settled; else None (encode it)."""
                if (
                    self._run < SETTLED
                    or self.silent_packet is None
                    or self._first_pts is None
                    or frame.pts is None
                    or frame.samples != FRAME_SAMPLES
                    or not is_digital_silence(frame)
                ):
                    return None
                self.skipped += 1
                return [self.silent_packet], int(frame.pts) - self._first_pts

            def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
                quick = self.encode_silence(frame)
                if quick is not None:
                    return quick
                payloads, timestamp = super().encode(frame, force_keyframe)
                if self._aligned and payloads and frame.pts is not None:
                    if self._first_pts is None:
                        self._first_pts = int(frame.pts) - timestamp
                    if self.skipped:
                        # The codec counts the samples it was given, not the frames' time:
                        # after skipped silence the packet's time is the frame's.
                        timestamp = int(frame.pts) - self._first_pts
                    elif timestamp != int(frame.pts) - self._first_pts:
                        self._aligned = False
                if not self._aligned or frame.samples != FRAME_SAMPLES:
                    # Frames that are not whole packets (or time that is not the frames'):
                    # aiortc's encoder as it is, never the shortcut.
                    self._aligned, self._run, self._first_pts = False, 0, None
                elif len(payloads) == 1 and is_digital_silence(frame):
                    if payloads[0] == self.silent_packet:
                        self._run += 1
                    else:
                        self.silent_packet, self._run = payloads[0], 1
                else:
                    self._run = 0
                return payloads, timestamp

        _ENCODER = SilenceOpusEncoder
    return _ENCODER


def decoder_class() -> type[Any]:
    """:class:`SilenceOpusDecoder` (built on first use)."""
    global _DECODER
    if _DECODER is None:
        import fractions

        from aiortc.codecs.opus import OpusDecoder

        class SilenceOpusDecoder(OpusDecoder):
            """aiortc's Opus decoder that answers a packet it knows decodes to exact zeros
            with a zero frame, without decoding it."""

            def __init__(self) -> None:
                super().__init__()
                self.silent_packet: bytes | None = None
                self.skipped = 0
                self._run = 0
                self._zero: Any = None  # a decoded silent frame: layout, size, pts offset
                self._pts_offset = 0

            def decode(self, encoded_frame: Any) -> list[Any]:
                data = encoded_frame.data
                if self._run >= SETTLED and data == self.silent_packet:
                    self.skipped += 1
                    return [self._zero_frame(encoded_frame.timestamp)]
                frames: list[Any] = super().decode(encoded_frame)
                if (
                    len(frames) == 1
                    and frames[0].samples == FRAME_SAMPLES
                    and frames[0].pts is not None
                    and is_digital_silence(frames[0])
                ):
                    if data == self.silent_packet:
                        self._run += 1
                    else:
                        self.silent_packet, self._run = bytes(data), 1
                    self._zero = frames[0]
                    self._pts_offset = int(frames[0].pts) - int(encoded_frame.timestamp)
                else:
                    self._run = 0
                return frames

            def _zero_frame(self, timestamp: int) -> av.AudioFrame:
                like = self._zero
                frame = silent_frame(like.samples, like.layout.name, like.sample_rate)
                frame.pts = timestamp + self._pts_offset
                frame.time_base = like.time_base or fractions.Fraction(1, like.sample_rate)
                return frame

        _DECODER = SilenceOpusDecoder
    return _DECODER


class InlineDecoding:
    """Stands in for an audio receiver's decoder queue: decodes each frame as it is put, on
    the loop, and puts the result straight into the receiver's track (aiortc's thread would
    take it from a queue and hand it back with ``run_coroutine_threadsafe``)."""

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._codec_name: str | None = None
        self._decoder: Any = None

    def put(self, item: Any) -> None:
        out = self._receiver._track._queue  # the RemoteStreamTrack's asyncio.Queue
        if item is None:  # the receiver stops: end the track
            out.put_nowait(None)
            return
        codec, encoded_frame = item
        if codec.name != self._codec_name:
            self._decoder = _decoder_for(codec)
            self._codec_name = codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except Exception as exc:
            # As aiortc's worker for av's errors: keep the decoder, report it, go on. Any other
            # error too: raised here, on the loop, it would end the whole DTLS transport.
            log.warning("failed to decode an audio %s frame: %r", codec.name, exc)
            self._receiver._RTCRtpReceiver__decoder_error.set()
            return
        for frame in frames:
            out.put_nowait(frame)


def _decoder_for(codec: Any) -> Any:
    if codec.name.lower() == "opus":
        return decoder_class()()
    from aiortc.codecs import get_decoder

    return get_decoder(codec)


_installed = False


def install() -> None:
    """Put the silence shortcuts and inline audio decoding into aiortc (idempotent; nothing
    when the switch is ``0``, or on an aiortc other than the 1.16 this was written for)."""
    global _installed
    if _installed or not enabled():
        return
    import aiortc
    import aiortc.rtcrtpreceiver as receiver_module
    import aiortc.rtcrtpsender as sender_module

    if not aiortc.__version__.startswith("1.16."):
        log.info("aiortc %s: audio shortcuts not installed (written for 1.16)", aiortc.__version__)
        _installed = True
        return
    _install_sender(sender_module)
    _install_receiver(receiver_module)
    _installed = True


def _install_sender(module: Any) -> None:
    from av import AudioFrame

    original_get_encoder = module.get_encoder
    sender_class = module.RTCRtpSender
    encoded_frame = module.RTCEncodedFrame

    def get_encoder(codec: Any) -> Any:
        if codec.name.lower() == "opus":
            return encoder_class()()
        return original_get_encoder(codec)

    async def _next_encoded_frame(self: Any, codec: Any) -> Any:
        # aiortc 1.16's RTCRtpSender._next_encoded_frame, with one addition: a silent audio
        # frame the encoder can answer from its cache is answered here, not in the executor.
        data = await self._RTCRtpSender__track.recv()
        if not self._enabled:
            return None
        if self._RTCRtpSender__encoder is None:
            self._RTCRtpSender__encoder = module.get_encoder(codec)
        encoder = self._RTCRtpSender__encoder
        audio_level = None
        if isinstance(data, module.Frame):
            if isinstance(data, AudioFrame):
                quick = getattr(encoder, "encode_silence", None)
                settled = quick(data) if quick is not None else None
                if settled is not None:
                    return encoded_frame(settled[0], settled[1], MIN_AUDIO_LEVEL)
                audio_level = module.rtp.compute_audio_level_dbov(data)
            force_keyframe = self._RTCRtpSender__force_keyframe
            self._RTCRtpSender__force_keyframe = False
            payloads, timestamp = await self._RTCRtpSender__loop.run_in_executor(
                None, encoder.encode, data, force_keyframe
            )
        else:
            payloads, timestamp = encoder.pack(data)
        if not payloads:
            return None
        return encoded_frame(payloads, timestamp, audio_level)

    setattr(module, "get_encoder", get_encoder)  # noqa: B010 - no public hook
    setattr(sender_class, "_next_encoded_frame", _next_encoded_frame)  # noqa: B010


def _install_receiver(module: Any) -> None:
    receiver_class = module.RTCRtpReceiver
    original_init = receiver_class.__init__
    original_worker = module.decoder_worker

    def __init__(self: Any, kind: str, transport: Any) -> None:
        original_init(self, kind, transport)
        if kind == "audio":
            self._RTCRtpReceiver__decoder_queue = InlineDecoding(self)

    def decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
        if isinstance(input_q, InlineDecoding):
            return  # decoding happens in InlineDecoding.put, on the loop
        original_worker(loop, input_q, output_q, decode_error)

    setattr(receiver_class, "__init__", __init__)  # noqa: B010 - no public hook
    setattr(module, "decoder_worker", decoder_worker)  # noqa: B010
