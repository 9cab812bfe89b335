"""Devices and their failures under real conditions (a real PulseAudio, or none)."""

from __future__ import annotations

import argparse

import pytest

from vivavoce.audio import devices, open_audio
from vivavoce.audio.errors import AudioError, NoSoundServer, NoSuchDevice
from vivavoce.settings import Settings

from .conftest import Pulse


def test_lists_virtual_devices_with_default_marks(pulse: Pulse) -> None:
    found = devices.list_devices()
    assert any(d.default_input for d in found)
    assert any(d.default_output for d in found)
    assert {d.hostapi for d in found} >= {"ALSA"}
    table = devices.format_table(found)
    assert "default input" in table


def test_choose_by_name_substring_and_index(pulse: Pulse) -> None:
    found = devices.list_devices()
    pulse_dev = next(d for d in found if d.name == "pulse")
    assert devices.find_device("PULS", "output").index == pulse_dev.index
    assert devices.find_device(str(pulse_dev.index), "input").name == "pulse"
    default = devices.find_device(None, "output")
    assert default.default_output


def test_unknown_device_lists_close_matches(pulse: Pulse) -> None:
    with pytest.raises(NoSuchDevice) as info:
        devices.find_device("pulsee-headset", "input")
    message = str(info.value)
    assert "'pulse'" in message and "inputDevice" in message and "\n" not in message


async def test_select_device_for_the_language_server(pulse: Pulse) -> None:
    chosen = await devices.select_device("output", "default")
    assert chosen["name"] == "default" and chosen["outputChannels"] > 0
    listed = await devices.list_devices_async()
    assert listed["inputs"] and listed["outputs"]
    with pytest.raises(NoSuchDevice):
        await devices.select_device("input", "nosuch")


async def test_unknown_device_fails_open_with_one_line(pulse: Pulse) -> None:
    with pytest.raises(NoSuchDevice) as info:
        await open_audio(Settings(output_device="Studio Monitors 9000"), lambda _: None)
    assert "outputDevice" in str(info.value)


async def test_no_sound_server_is_one_clear_line(no_sound_server: None) -> None:
    with pytest.raises(NoSoundServer) as info:
        await open_audio(Settings(), lambda _: None)
    assert "sound server" in str(info.value)
    assert isinstance(info.value, AudioError)
    args = argparse.Namespace(json=False)
    assert devices.main(args) == 1


def test_devices_command_prints_table(pulse: Pulse, capsys: pytest.CaptureFixture[str]) -> None:
    assert devices.main(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert "pulse" in out and "ALSA" in out
