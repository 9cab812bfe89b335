"""Wake word: hits, false triggers and CPU of the local spotter (pocketsphinx keyphrase search).

* hits — :data:`COMMANDS` said after the wake word ("hey viva, what time is it"), flite voices
  ``rms`` and ``slt``, at two levels (as synthesized: active speech ≈ -19 and -14 dBFS; and
  10 dB quieter) over a noise bed at -50 dBFS, each voice and level fed in turn to one spotter
  that runs on (as it does while waiting: its feature normalization adapts to the level): the
  share of utterances in which the phrase is heard once, within the utterance. Target ≥ 90 %.
  The same 20 dB quieter (speech ≈ 11–16 dB over the noise) is reported apart.
* false triggers — ≥ 10 minutes of speech that does not contain the phrase (the GPL-3 text
  from ``/usr/share/common-licenses``, read by ``rms``, ``slt`` and ``awb``) and of noise,
  fed to one spotter faster than real time: triggers per hour, extrapolated. Target < 1.
  Near misses ("hey vivian", "viva las vegas", …) are counted apart (informational).
* CPU — the spotter's CPU per second of audio (% of one core, process time while feeding),
  and, with real devices (PulseAudio null sinks), the language server's conversation
  listening for the wake word: CPU of the process while waiting (target ≤ 5 %) and the event
  loop's lag (p99 ms), with the microphone alone open (the product), against the same through
  the call's devices (microphone, speaker, echo canceller: how it listened before; the
  baseline) and those devices open with nothing listening.

Run alone: ``python -m benchmarks.wake_bench [--sweep]`` (``--sweep`` tries several thresholds).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

PHRASE = "hey viva"
#: What follows the wake word in the utterances that must wake it.
COMMANDS = [
    "what time is it",
    "open the main file",
    "explain this function",
    "run the tests",
    "what does this error mean",
    "rename the variable",
    "add a comment here",
    "show me the last commit",
    "how do I sort a list",
    "read the selected line",
    "go to the definition",
    "write a unit test",
    "why is this slow",
    "summarize the file",
    "find the bug",
    "close the call",
]
HIT_VOICES = ("rms", "slt")
#: dB applied to the synthesized speech: as synthesized, and quieter (further from the mic).
LEVELS_DB = (0.0, -10.0)
#: Reported apart: speech only ≈ 11–16 dB over the noise.
FAR_DB = -20.0
NEGATIVE_VOICES = ("rms", "slt", "awb")
#: Minutes of non-matching speech and noise fed for the false-trigger rate.
NEGATIVE_MINUTES = 10.0
NEAR_MISSES = [
    "hey vivian, how are you",
    "viva las vegas",
    "hey eva, come here",
    "heavy rain is coming",
    "they gave a visa to the visitor",
    "hey, the river is high",
    "the diva sang very well",
    "hey, leave it alone",
]
LICENSE = Path("/usr/share/common-licenses/GPL-3")
#: Noise bed RMS (dBFS) under every utterance, and the level of the noise-only stretches.
NOISE_DBFS = -50.0
TARGET_HITS_PCT = 90.0
TARGET_FALSE_PER_HOUR = 1.0
TARGET_CPU_PCT = 5.0
RATE = 16000


def _noise(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Pinkish noise (white, smoothed) at ``dbfs`` RMS, float."""
    white = rng.normal(0.0, 1.0, n + 8)
    smooth = np.convolve(white, np.ones(8) / 8, mode="valid")[:n]
    smooth *= 32768 * 10 ** (dbfs / 20) / (np.sqrt(np.mean(smooth**2)) or 1.0)
    return smooth


def _mix(speech: np.ndarray[Any, Any], gain_db: float, rng: np.random.Generator) -> Any:
    """Speech with 1 s of lead-in and 1.5 s of tail, scaled, over the noise bed (int16)."""
    lead, tail = np.zeros(RATE), np.zeros(int(1.5 * RATE))
    signal = np.concatenate([lead, speech.astype(np.float64) * 10 ** (gain_db / 20), tail])
    signal += _noise(signal.size, NOISE_DBFS, rng)
    return np.clip(signal, -32768, 32767).astype(np.int16)


def license_sentences() -> list[str]:
    text = LICENSE.read_text() if LICENSE.exists() else ""
    text = re.sub(r"\s+", " ", text)
    sentences = [s.strip() for s in re.split(r"(?<=[.;:])\s", text)]
    return [s for s in sentences if 4 <= len(s.split()) <= 40]


async def corpus() -> dict[str, Any]:
    """The synthesized audio: hits (with where the phrase ends), negatives, near misses."""
    from vivavoce.peer.tts import Synthesizer

    synth = Synthesizer()
    rng = np.random.default_rng(20)
    hits: list[dict[str, Any]] = []
    for voice in HIT_VOICES:
        for command in COMMANDS:
            said = f"{PHRASE}, {command}"
            speech = await synth.synthesize(said, voice=voice)
            hits.extend(
                {"voice": voice, "level": level, "said": said, "pcm": _mix(speech, level, rng)}
                for level in (*LEVELS_DB, FAR_DB)
            )
    negatives: list[np.ndarray[Any, Any]] = []
    total = 0
    sentences = license_sentences()
    needed = NEGATIVE_MINUTES * 60 * RATE
    i = 0
    while total < needed * 0.9 and i < len(sentences) * len(NEGATIVE_VOICES):
        voice = NEGATIVE_VOICES[i % len(NEGATIVE_VOICES)]
        speech = await synth.synthesize(sentences[i // len(NEGATIVE_VOICES)], voice=voice)
        level = LEVELS_DB[i % 2]
        pcm = _mix(speech, level, rng)
        negatives.append(pcm)
        total += pcm.size
        i += 1
    # And a tenth of noise alone, louder (a fan, typing nearby).
    noise = np.clip(_noise(int(needed * 0.1), -35.0, rng), -32768, 32767).astype(np.int16)
    negatives.append(noise)
    near = [
        _mix(await synth.synthesize(text, voice=voice), 0.0, rng)
        for voice in HIT_VOICES
        for text in NEAR_MISSES
    ]
    return {"hits": hits, "negatives": negatives, "near": near}


def spot(audio: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Feed everything to fresh spotters (in 100 ms pieces, as the microphone does)."""
    from vivavoce.audio.wake import CHUNK, Spotter

    def run(spotter: Spotter, pcm: np.ndarray[Any, Any]) -> list[int]:
        found = []
        for i in range(0, pcm.size, CHUNK):
            end = spotter.feed(pcm[i : i + CHUNK])
            if end is not None:
                found.append(end)
        return found

    rows = []
    for voice in HIT_VOICES:
        for level in (*LEVELS_DB, FAR_DB):
            spotter = Spotter(PHRASE, threshold)  # one per voice and level, running on
            for item in audio["hits"]:
                if (item["voice"], item["level"]) != (voice, level):
                    continue
                start = spotter.samples
                ends = [e - start for e in run(spotter, item["pcm"])]
                # Heard once, ending within the utterance (after the 1 s lead-in).
                ok = len(ends) == 1 and RATE <= ends[0] <= item["pcm"].size
                rows.append({"voice": voice, "level": level, "said": item["said"],
                             "ends_s": [round(e / RATE, 2) for e in ends], "hit": ok})  # fmt: skip
            spotter.close()
    far = [r for r in rows if r["level"] == FAR_DB]
    rows = [r for r in rows if r["level"] != FAR_DB]
    spotter = Spotter(PHRASE, threshold)
    seconds = 0.0
    cpu0 = time.process_time()
    false = 0
    for pcm in audio["negatives"]:
        false += len(run(spotter, pcm))
        seconds += pcm.size / RATE
    cpu = time.process_time() - cpu0
    spotter.close()
    spotter = Spotter(PHRASE, threshold)
    near = sum(len(run(spotter, pcm)) for pcm in audio["near"])
    spotter.close()
    hit_pct = 100.0 * sum(r["hit"] for r in rows) / len(rows)
    by: dict[str, float] = {}
    for voice in HIT_VOICES:
        for level in (*LEVELS_DB, FAR_DB):
            if level == FAR_DB:
                mine = [r for r in far if r["voice"] == voice]
                by[f"{voice} {level:+.0f} dB (apart)"] = round(
                    100.0 * sum(r["hit"] for r in mine) / len(mine)
                )
                continue
            mine = [r for r in rows if r["voice"] == voice and r["level"] == level]
            by[f"{voice} {level:+.0f} dB"] = round(100.0 * sum(r["hit"] for r in mine) / len(mine))
    return {
        "threshold": threshold,
        "hits_pct": hit_pct,
        "hits_by": by,
        "utterances": len(rows),
        "negative_minutes": seconds / 60,
        "false_triggers": false,
        "false_per_hour": false * 3600 / seconds,
        "near_misses": len(audio["near"]),
        "near_miss_triggers": near,
        "spotter_cpu_pct": 100.0 * cpu / seconds,
        "missed": [
            f"{r['voice']} {r['level']:+.0f} dB: {r['said']} {r['ends_s']}"
            for r in rows
            if not r["hit"]
        ],
    }


async def waiting(seconds: float, wake_word: str | None) -> dict[str, Any]:
    """In this process: a conversation with real devices listening for ``wake_word`` (None:
    devices open, nothing listening, the baseline); CPU of the process (all threads) and the
    event loop's lag over ``seconds`` once it listens."""
    from vivavoce.audio import open_audio
    from vivavoce.audio.listen import open_microphone
    from vivavoce.conversation import Conversation
    from vivavoce.settings import Settings

    settings = Settings(peer="embedded", wake_word=wake_word, echo_cancellation="auto")
    # The call's devices listening (as before the microphone alone): the comparison.
    mic = None if os.environ.get("VIVAVOCE_BENCH_WAKE_DEVICES") else open_microphone
    conv = Conversation(settings, audio=open_audio, microphone=mic)
    lags: list[float] = []
    try:
        if wake_word:
            conv.wake.changed()
            for _ in range(300):
                if conv.status.state == "listening":
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"never listened: {conv.status}")
        else:
            await conv.open_audio()
        await asyncio.sleep(2.0)  # settled
        cpu0, t0 = time.process_time(), time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - before - 0.01) * 1000)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - t0
    finally:
        await conv.close()
    lags.sort()
    return {
        "cpu_pct": 100.0 * cpu / wall,
        "lag_p99_ms": lags[int(0.99 * (len(lags) - 1))],
        "lag_max_ms": lags[-1],
        "seconds": wall,
    }


async def _waiting_in_child(
    seconds: float, wake_word: str | None, *, devices: bool = False
) -> dict[str, Any]:
    """:func:`waiting` in a fresh process on a private PulseAudio's virtual microphone
    (``devices``: listening through the call's devices instead of the microphone alone)."""
    import json
    import sys

    from benchmarks.devices_bench import pulse_daemon

    args = ["--waiting", str(seconds)] + (["--phrase", wake_word] if wake_word else [])
    with pulse_daemon() as env:
        full = {**os.environ, **env, "PULSE_SOURCE": "bm_mic.monitor", "PULSE_SINK": "bm_speaker"}
        if devices:
            full["VIVAVOCE_BENCH_WAKE_DEVICES"] = "1"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.wake_bench", *args, env=full,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wakeword waiting benchmark failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def bench_wakeword(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from vivavoce.audio.wake import DEFAULT_THRESHOLD

    t0 = time.perf_counter()
    seconds = 20.0 if getattr(cfg, "duration", 60.0) < 60 else 60.0
    devices_only = await _waiting_in_child(seconds, None)
    listening = await _waiting_in_child(seconds, PHRASE)
    on_devices = await _waiting_in_child(seconds, PHRASE, devices=True)
    audio = await corpus()
    result = await asyncio.to_thread(spot, audio, DEFAULT_THRESHOLD)
    result["waiting"] = listening
    result["devices_only"] = devices_only
    result["waiting_on_devices"] = on_devices
    result["notes"] = {
        "wakeword corpus": f"{result['utterances']} utterances ({', '.join(HIT_VOICES)} at "
        f"{', '.join(f'{x:+.0f}' for x in LEVELS_DB)} dB), {result['negative_minutes']:.1f} min "
        f"of other speech and noise ({time.perf_counter() - t0:.0f} s)",
        "wakeword hits by voice and level (%)": str(result["hits_by"]),
        "wakeword near misses": f"{result['near_miss_triggers']} trigger(s) in "
        f"{result['near_misses']} phrases",
        "wakeword waiting (the microphone alone, listening)": f"CPU {listening['cpu_pct']:.1f} "
        f"% of a core (through the call's devices, as before: {on_devices['cpu_pct']:.1f} %; "
        f"the call's devices open, not listening: {devices_only['cpu_pct']:.1f} %), loop lag p99 "
        f"{listening['lag_p99_ms']:.1f} ms, max {listening['lag_max_ms']:.1f} ms "
        f"(not listening: p99 {devices_only['lag_p99_ms']:.1f}, max "
        f"{devices_only['lag_max_ms']:.1f} ms), over {listening['seconds']:.0f} s",
    }
    return {}, result


def wakeword_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    def metric(
        value: float, unit: str, target: str | None, ok: bool | None, baseline: float | None = None
    ) -> dict[str, Any]:
        base = None if baseline is None else round(baseline, 3)
        return {"product": round(value, 3), "baseline": base, "unit": unit, "ratio": None,
                "target": target, "pass": ok}  # fmt: skip

    return {
        "wakeword_hits": metric(
            prod["hits_pct"], "% heard", f">= {TARGET_HITS_PCT:.0f} %",
            prod["hits_pct"] >= TARGET_HITS_PCT,
        ),
        "wakeword_false_triggers": metric(
            prod["false_per_hour"], "per hour", f"< {TARGET_FALSE_PER_HOUR:.0f}",
            prod["false_per_hour"] < TARGET_FALSE_PER_HOUR,
        ),
        "wakeword_waiting_cpu": metric(
            prod["waiting"]["cpu_pct"], "% of a core", f"<= {TARGET_CPU_PCT:.0f} %",
            prod["waiting"]["cpu_pct"] <= TARGET_CPU_PCT, prod["waiting_on_devices"]["cpu_pct"],
        ),
        "wakeword_loop_lag_p99": metric(
            prod["waiting"]["lag_p99_ms"], "ms", None, None, prod["devices_only"]["lag_p99_ms"]
        ),
        "wakeword_spotter_cpu": metric(
            prod["spotter_cpu_pct"], "% of a core", f"<= {TARGET_CPU_PCT:.0f} %",
            prod["spotter_cpu_pct"] <= TARGET_CPU_PCT,
        ),
    }  # fmt: skip


def main() -> None:
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", type=lambda s: [float(x) for x in s.split(",")], default=None)
    p.add_argument("--waiting", type=float, help="(internal) seconds of waiting to measure")
    p.add_argument("--phrase", default=None, help="(internal) the wake word while waiting")
    args = p.parse_args()
    if args.waiting:
        print(json.dumps(asyncio.run(waiting(args.waiting, args.phrase))))
        return
    audio = asyncio.run(corpus())
    from vivavoce.audio.wake import DEFAULT_THRESHOLD

    for threshold in args.sweep or [DEFAULT_THRESHOLD]:
        out = spot(audio, threshold)
        print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
