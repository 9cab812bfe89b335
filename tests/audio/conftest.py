"""A private PulseAudio daemon with virtual devices, for tests with real sounddevice streams.

``pulse`` starts ``pulseaudio`` in user mode in a fresh runtime directory (so it touches no
other daemon and no other test's), with two null sinks:

* ``vv_speaker`` — the default sink: what vivavoce plays; its monitor is recorded by tests;
* ``vv_mic`` — tests play speech into it; its monitor ``vv_mic.monitor`` is the default source,
  the virtual microphone.

``pulse.loopback()`` makes ``vv_speaker.monitor`` the microphone instead (the speaker feeds the
microphone: an echo path for echo cancellation). PortAudio is rescanned after start and after
stop, so sounddevice sees the current devices. Skips only if pulseaudio is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
from pytest_lsp import ClientServerConfig

from tests.e2e.editor import SERVER, Editor, end_server, init_params

if TYPE_CHECKING:
    from vivavoce.peer.process import PeerProcess

Pcm = npt.NDArray[np.int16]


class Pulse:
    """The running daemon and helpers to play into / record from its virtual devices."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(root),
            "PULSE_RUNTIME_PATH": str(root / "pulse"),
            "PULSE_STATE_PATH": str(root / "state"),
            "PULSE_SERVER": f"unix:{root / 'pulse' / 'native'}",
            "HOME": str(root),
        }
        self.pid: int | None = None

    def pactl(self, *args: str) -> str:
        out = subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=20, check=True
        )
        return out.stdout.strip()

    def start(self) -> None:
        subprocess.run(
            ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--system=false",
             "--use-pid-file=yes", "--load=module-native-protocol-unix auth-anonymous=1"],
            env=self.env, capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                self.pactl("info")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        pid_file = self.root / "pulse" / "pid"
        self.pid = int(pid_file.read_text().split()[0])
        for name in ("vv_speaker", "vv_mic"):
            self.pactl(
                "load-module", "module-null-sink", f"sink_name={name}",
                f"sink_properties=device.description={name}",
            )  # fmt: skip
        self.pactl("set-default-sink", "vv_speaker")
        self.pactl("set-default-source", "vv_mic.monitor")

    def stop(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(self.pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def loopback(self) -> None:
        """The virtual speaker now feeds the virtual microphone."""
        self.pactl("set-default-source", "vv_speaker.monitor")

    async def play(
        self, samples: Pcm, rate: int, device: str = "vv_mic", latency_msec: int = 20
    ) -> None:
        """Play int16 mono into a sink (the virtual microphone by default); returns when done.
        ``latency_msec``: pacat's buffer; a longer one keeps a loaded machine from cutting gaps
        into the speech (an underrun plays silence mid-word)."""
        proc = await asyncio.create_subprocess_exec(
            "pacat", "--playback", f"--device={device}", f"--rate={rate}", "--channels=1",
            "--format=s16le", f"--latency-msec={latency_msec}", env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await proc.communicate(np.ascontiguousarray(samples, np.int16).tobytes())
        finally:  # cancelled (the test is done listening): stop playing, leave nothing open
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    @contextlib.asynccontextmanager
    async def record(
        self, device: str = "vv_speaker.monitor", rate: int = 48000
    ) -> AsyncIterator[list[bytes]]:
        """Record a source while the block runs; the list holds raw s16 mono chunks."""
        proc = await asyncio.create_subprocess_exec(
            "parec", f"--device={device}", f"--rate={rate}", "--channels=1", "--format=s16le",
            "--latency-msec=20", env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        chunks: list[bytes] = []

        async def read() -> None:
            assert proc.stdout is not None
            while data := await proc.stdout.read(4096):
                chunks.append(data)

        reader = asyncio.get_running_loop().create_task(read(), name="parec reader")
        try:
            yield chunks
        finally:
            proc.terminate()
            await proc.wait()
            await reader


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:\tZ") for line in f)
    except FileNotFoundError:
        return False


def samples_of(chunks: list[bytes]) -> Pcm:
    data = b"".join(chunks)
    return np.frombuffer(data[: len(data) // 2 * 2], np.int16)


def _rescan() -> None:
    from vivavoce.audio import backend

    with contextlib.suppress(Exception):
        backend.rescan()


@contextlib.contextmanager
def running_pulse() -> Iterator[Pulse]:
    """A fresh PulseAudio daemon with a virtual speaker and microphone (see module doc), for a
    process of its own to reach through ``Pulse.env`` (this process's environment is left alone).
    Skips the test if pulseaudio is not installed."""
    if not shutil.which("pulseaudio") or not shutil.which("pactl"):
        pytest.skip("pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    root = Path(tempfile.mkdtemp(prefix="vvpa-", dir="/tmp"))  # socket paths must stay short
    pulse = Pulse(root)
    try:
        pulse.start()
        yield pulse
    finally:
        pulse.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pulse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pulse]:
    """``running_pulse()``, and this process's sounddevice (and every child's) on its devices."""
    with running_pulse() as pulse:
        for key in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "PULSE_SERVER"):
            monkeypatch.setenv(key, pulse.env[key])
        try:
            _rescan()
            yield pulse
        finally:
            pulse.stop()
            _rescan()


@contextlib.asynccontextmanager
async def lsp_with_devices(options: dict[str, Any]) -> AsyncIterator[Editor]:
    """The real ``vivavoce lsp`` with sound devices (the virtual ones of ``pulse``), as an
    editor starts it, initialized with ``options``."""

    from tests.e2e.editor import Editor

    env = {**os.environ, "VIVAVOCE_AUDIO_DEVICES": "true"}
    client = await ClientServerConfig(server_command=SERVER, server_env=env).start()
    try:
        await client.initialize_session(init_params(options))
        yield Editor(client)
    finally:
        await end_server(client)
        await client.stop()


@pytest.fixture
def no_sound_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No sound server reachable: libpulse is pointed at a socket nobody listens on."""
    root = Path(tempfile.mkdtemp(prefix="vvns-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(root))
    monkeypatch.setenv("PULSE_RUNTIME_PATH", str(root / "pulse"))
    monkeypatch.setenv("PULSE_SERVER", f"unix:{root / 'nothing'}")
    _rescan()
    try:
        yield
    finally:
        monkeypatch.undo()
        _rescan()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def peer() -> AsyncIterator[PeerProcess]:
    """The local peer on 127.0.0.1, in its own process (overrides the in-process fixture here),
    with a random key (``peer.api_key``) as the language server starts it.

    With real devices the peer must not share our process: its recognition and synthesis hold
    the GIL long enough to starve PortAudio's callback thread (measured: 9–16 output underruns
    in a 15 s reply with the peer in-process, none with it in a subprocess; every underrun
    through PulseAudio's ALSA plugin stalls the stream ≈ 2 s). A real server is remote anyway.
    """
    from vivavoce.peer.process import PeerProcess

    running = await PeerProcess.start()
    try:
        yield running
    finally:
        await running.close()
