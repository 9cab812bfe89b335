"""``vivavoce doctor`` and ``vivavoce history play`` against real (virtual) devices."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vivavoce.audio import doctor, playback
from vivavoce.audio.recorder import Recorder
from vivavoce.settings import Settings

from .conftest import Pulse, samples_of
from .test_call import audible_seconds


async def test_doctor_passes_with_devices_and_a_server(
    pulse: Pulse, peer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(api_key=peer.api_key, peer="openai", base_url=peer.base_url)
    noise = (np.random.default_rng(1).standard_normal(16000 * 6) * 3000).astype(np.int16)
    player = asyncio.create_task(pulse.play(noise, 16000))  # someone talks into the microphone
    await asyncio.sleep(0.5)
    try:
        code = await asyncio.to_thread(doctor.main, argparse.Namespace(), lambda: settings)
    finally:
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.strip().splitlines()
    assert len(lines) == 9 and all(line.startswith("PASS") for line in lines[:-1]), out
    assert peer.api_key not in out
    assert "answers (HTTP" in out


async def test_doctor_fails_without_sound_server_with_fixes(
    no_sound_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(peer="openai", base_url="http://127.0.0.1:9/v1")
    code = await asyncio.to_thread(doctor.main, argparse.Namespace(), lambda: settings)
    out = capsys.readouterr().out
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert any("sound server" in line and "fix:" in line for line in failed), out
    assert any("API key" in line and "OPENAI_API_KEY" in line for line in failed), out
    assert any("server" in line and "not answering" in line for line in failed), out


async def test_history_play_reaches_the_speaker(pulse: Pulse, tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    rec = Recorder(path, 48000)
    t = np.arange(48000) / 48000
    user = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
    rec.write(user, np.zeros(48000, np.int16))
    rec.close()
    async with pulse.record() as chunks:
        code = await asyncio.to_thread(playback.main, argparse.Namespace(path=str(path)))
        await asyncio.sleep(0.3)
    assert code == 0
    assert 0.6 <= audible_seconds(samples_of(chunks)) <= 1.3


def test_history_play_of_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = playback.main(argparse.Namespace(path=str(tmp_path / "nope.wav")))
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivavoce: no recording at") and "\n" not in err
