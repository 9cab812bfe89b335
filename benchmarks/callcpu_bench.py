"""The ``callcpu`` group: CPU per call-second of a few calls, aiortc's audio path vs ours.

    .venv/bin/python -m benchmarks.run --only callcpu   # 2 rounds × 2 sides × (45 s + set-up)
    BENCH_CALLCPU_SECONDS=20 BENCH_CALLCPU_ROUNDS=1 \
        .venv/bin/python -m benchmarks.run --only callcpu                    # smoke, ≈ 1.5 min

The set-up of the ``load`` group (a fresh ``vivavoce peer``, :mod:`benchmarks.load_client`
holding the calls: audio both ways all the time, a flite sentence into each call every
``PERIOD_S`` seconds, staggered, answered in speech), with ``BENCH_CALLCPU_CALLS`` calls
(default 4): few enough that the processes keep up on a busy machine, so what they consume is
the work itself. Both sides run the same code; the baseline sets
:data:`vivavoce.rtc.shortcuts.SWITCH` to ``0`` in the peer and the client, which leaves aiortc's
audio path as it is (every silent frame encoded and decoded, decoding in a thread per
receiver). Rounds alternate baseline and product so that the machine's other load falls on
both.

The metric is CPU milliseconds per call-second (CPU seconds consumed during the window /
(calls × window seconds) × 1000; 1000 is one core per call), by part: the peer's event-loop
thread, the peer's other threads, the peer's children (recognition workers, speech synthesis),
the client's loop thread and other threads. Each side's turns must all be answered.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from benchmarks.load_bench import _one_side, turns_answered
from benchmarks.stats import median, record

#: Seconds between a call's sentences: ≈ 2 s of speech each way per turn, silence otherwise
#: (most of a real call).
PERIOD_S = 15.0
PARTS = ("peer_loop", "peer_threads", "peer_children", "client_loop", "client_threads", "total")


class _Cfg(Protocol):
    duration: float


def _seconds(cfg: _Cfg) -> float:
    default = 45.0 if cfg.duration >= 60 else 20.0
    return float(os.environ.get("BENCH_CALLCPU_SECONDS", default))


def _rounds(cfg: _Cfg) -> int:
    return int(os.environ.get("BENCH_CALLCPU_ROUNDS", "2" if cfg.duration >= 60 else "1"))


def _calls() -> int:
    return int(os.environ.get("BENCH_CALLCPU_CALLS", "4"))


async def bench_callcpu(cfg: _Cfg) -> tuple[dict[str, Any], dict[str, Any]]:
    seconds, calls = _seconds(cfg), _calls()
    from vivavoce.rtc.shortcuts import SWITCH

    sides: dict[str, list[dict[str, Any]]] = {"baseline": [], "product": []}
    for _ in range(_rounds(cfg)):
        for name, value in (("baseline", "0"), ("product", "1")):
            result = await _one_side(
                calls, calls + 1, seconds, env={SWITCH: value}, period=PERIOD_S, label=name
            )
            sides[name].append(result)
    raw, prod = (_pooled(sides[n]) for n in ("baseline", "product"))
    prod["notes"] = {
        "callcpu calls, window (s), rounds": f"{calls}, {seconds:g}, {len(sides['product'])}",
        "callcpu CPU ms per call-second by part (baseline → product)": ", ".join(
            f"{p} {raw['cpu'][p]:.1f} → {prod['cpu'][p]:.1f}" for p in PARTS
        ),
        "callcpu turns answered/asked (baseline, product)": (
            f"{raw['turns_answered']}/{raw['turns_asked']}, "
            f"{prod['turns_answered']}/{prod['turns_asked']}"
        ),
        "callcpu assistant audio heard per call (s, baseline, product)": (
            f"{raw['audible_s']:.1f}, {prod['audible_s']:.1f}"
        ),
    }
    return raw, prod


def _pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one side: the median of each part, turns summed."""
    calls = max(1, sum(r["calls"] for r in results))
    return {
        "cpu": {p: median([r["cpu_ms_per_call_s"][p] for r in results]) for p in PARTS},
        "turns_asked": sum(r["turns_asked"] for r in results),
        "turns_answered": sum(r["turns_answered"] for r in results),
        "calls_lost": sum(r["calls_lost"] for r in results),
        "audible_s": sum(r["audible_s"] for r in results) / calls,
        "rounds": results,
    }


def callcpu_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    unit = "CPU ms per call-second"
    out: dict[str, Any] = {}
    for part in PARTS:
        out[f"callcpu_{part}_ms"] = record(prod["cpu"][part], raw["cpu"][part], unit, None)

    out["callcpu_turns_answered_pct"] = turns_answered(prod, raw, raw_too=False)
    return out
