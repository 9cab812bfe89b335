"""The ``load`` group: 16 simultaneous calls on one ``vivavoce peer`` (issue 17).

    .venv/bin/python -m benchmarks.run --only load            # 2 × (2 min + set-up) ≈ 5 min
    BENCH_LOAD_SECONDS=20 .venv/bin/python -m benchmarks.run --only load   # smoke, ≈ 1.5 min

A fresh ``vivavoce peer --max-calls 16`` (assistant mode: VAD, recognition, the built-in
responder, speech) and one client process (:mod:`benchmarks.load_client`) holding the calls:
raw aiortc, audio both ways all the time, a flite sentence into each call's microphone track
every 10 s (calls staggered), a data-channel probe every second. Product: 16 calls and a 17th
offer, which must get the 429. Baseline: the same with one call, so the table shows what 15
more calls cost each one.

Metrics: turns answered (every turn asked must be answered, ``completed``); data-channel round
trip p50/p99 (``conversation.item.retrieve`` → ``conversation.item.retrieved``: the peer's
event loop under the load, both directions of the channel); turn latency p50/p99 (the end of
the sentence leaving the client → ``response.created``, the peer's 500 ms of VAD silence
included); the peer's RSS per call (RSS with all calls open − RSS with the first call open
and warm, / the other calls; the shared recognizer and synthesizer are loaded by then, by a
typed warm-up turn on the first call); CPU of the peer and the client over the window (% of
one core); the status and body the 17th call got; the CPU of the whole load per call (peer,
its recognition workers and speech synthesis, client) and the share of the window the peer's
event loop waited, runnable, for a core (schedstat: a loop starved by the machine shows here,
not in its own CPU %). ``BENCH_LOAD_SECONDS`` sets the window
(default 120 full, 30 with ``--quick``), ``BENCH_LOAD_CALLS`` the number of calls (and the
peer's limit; default 16).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from typing import Any, Protocol

import psutil

from benchmarks.harness import LISTENING, START_LIMIT, Child
from benchmarks.procstat import MIB, UsageSampler
from benchmarks.stats import median, percentile, record, summary

PERIOD_S = 10.0


class _Cfg(Protocol):
    duration: float


def _seconds(cfg: _Cfg) -> float:
    default = 120.0 if cfg.duration >= 60 else 30.0  # the full and --quick configurations
    return float(os.environ.get("BENCH_LOAD_SECONDS", default))


def _calls() -> int:
    return int(os.environ.get("BENCH_LOAD_CALLS", "16"))


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def _descendants_cpu(pid: int) -> float:
    """CPU seconds of ``pid``'s children, live (recognition workers) and reaped (flite)."""
    proc = psutil.Process(pid)
    total = 0.0
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            t = child.cpu_times()
            total += t.user + t.system
    t = proc.cpu_times()
    return float(total + t.children_user + t.children_system)


def _runqueue_wait(pid: int) -> float:
    """Seconds the main thread of ``pid`` has waited, runnable, for a CPU (schedstat)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


class _Contention:
    """What the window asked of the machine beyond the two processes' own CPU: the peer's
    children (recognition workers, speech synthesis) and how long each main thread (the event
    loop) was runnable but waiting for a core. A loop that waits for a CPU half the time is
    starved, whatever its own CPU % says."""

    def __init__(self, peer: int, client: int) -> None:
        self.pids = {"peer": peer, "client": client}
        self.t0 = time.monotonic()
        self.children0 = _descendants_cpu(peer)
        self.wait0 = {n: _runqueue_wait(p) for n, p in self.pids.items()}

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        children = _descendants_cpu(self.pids["peer"]) - self.children0
        return {
            "peer_children_cpu_pct": 100.0 * children / wall,
            "loop_cpu_wait_pct": {
                n: 100.0 * (_runqueue_wait(p) - self.wait0[n]) / wall for n, p in self.pids.items()
            },
            "loadavg_1min": os.getloadavg()[0],
            "cpus": os.cpu_count(),
        }


def _thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds (user + system) of one thread of ``pid`` (``tid == pid``: the main thread,
    where the event loop runs)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


class CallCpu:
    """CPU seconds each part of the load consumed between construction and :meth:`stop`, per
    call-second (calls × wall seconds): robust to a busy machine, unlike CPU % of the window, as
    long as the processes keep up. Parts: the peer's event-loop thread, its other threads
    (aiortc's encoder pool and decoder threads, the recognizer's feeder), its children
    (recognition workers, speech synthesis), the client's loop thread and other threads."""

    def __init__(self, peer: int, client: int, calls: int) -> None:
        self.peer, self.client, self.calls = peer, client, calls
        self.t0 = time.monotonic()
        self.start = self._sample()

    def _sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in (("peer", self.peer), ("client", self.client)):
            t = psutil.Process(pid).cpu_times()
            loop = _thread_cpu(pid, pid)
            out[f"{name}_loop"] = loop
            out[f"{name}_threads"] = t.user + t.system - loop
        out["peer_children"] = _descendants_cpu(self.peer)
        return out

    def stop(self) -> dict[str, float]:
        """Milliseconds of CPU per call-second, by part (and ``total``)."""
        call_seconds = self.calls * (time.monotonic() - self.t0)
        end = self._sample()
        ms = {k: 1000.0 * (end[k] - self.start[k]) / call_seconds for k in end}
        ms["total"] = sum(ms.values())
        return ms


async def _one_side(
    calls: int,
    limit: int,
    seconds: float,
    *,
    env: dict[str, str] | None = None,
    period: float = PERIOD_S,
    label: str = "load",
) -> dict[str, Any]:
    from benchmarks.run import _peer_module

    peer = Child(
        f"{label} peer ({calls})", _peer_module(),
        "--host", "127.0.0.1", "--port", "0", "--max-calls", str(limit), env=env,
    )  # fmt: skip
    await peer.start()
    client: Child | None = None
    try:
        url = (await peer.wait_for_pattern(LISTENING, START_LIMIT)).group(1)
        rss_idle = _rss(peer.pid)
        client = await Child(
            f"{label} client ({calls})", "benchmarks.load_client",
            "--url", url, "--calls", str(calls), "--period", str(period),
            "--limit", str(limit if calls == limit else 0), env=env,
        ).start()  # fmt: skip
        await client.event("first", 120.0)
        rss_first = _rss(peer.pid)
        assert client.proc is not None and client.proc.stdin is not None
        client.proc.stdin.write(b"go\n")
        live = await client.event("live", 60.0 + 5.0 * calls)
        rss_live = _rss(peer.pid)
        sampler = UsageSampler({"peer": peer.pid, "client": client.pid})
        sampler.start()
        contention = _Contention(peer.pid, client.pid)
        call_cpu = CallCpu(peer.pid, client.pid, calls)
        await asyncio.sleep(seconds)
        cpu_ms_per_call_s = call_cpu.stop()
        wall, usage = await sampler.stop()
        machine = contention.stop()
        rss_end = _rss(peer.pid)
        client.tell_stop()
        result = await client.event("result", 120.0)
    finally:
        if client is not None:
            await client.stop()
        await peer.stop(terminate=True)
    others = max(1, calls - 1)
    result.update(
        wall_s=round(wall, 1),
        usage={u.name: vars(u) for u in usage},
        rss_mib={
            "idle": rss_idle / MIB,
            "first_call_warm": rss_first / MIB,
            "all_calls_open": rss_live / MIB,
            "end_of_window": rss_end / MIB,
        },
        rss_per_call_mib=(rss_live - rss_first) / others / MIB if calls > 1 else math.nan,
        rss_per_call_end_mib=(rss_end - rss_first) / others / MIB if calls > 1 else math.nan,
        live_connect_ms=live.get("connect_ms"),
        machine=machine,
        cpu_ms_per_call_s=cpu_ms_per_call_s,
    )
    return result


async def bench_load(cfg: _Cfg) -> tuple[dict[str, Any], dict[str, Any]]:
    seconds, calls = _seconds(cfg), _calls()
    baseline = await _one_side(1, calls, seconds)
    product = await _one_side(calls, calls, seconds)
    refused = product.get("over_limit") or {}
    body = refused.get("body") if isinstance(refused.get("body"), dict) else {}
    error = body.get("error", {}) if isinstance(body, dict) else {}
    product["notes"] = {
        "load window (s), calls": f"{product['wall_s']}, {calls} (baseline 1)",
        "load turns answered/asked (baseline, product)": (
            f"{baseline['turns_answered']}/{baseline['turns_asked']}, "
            f"{product['turns_answered']}/{product['turns_asked']} {product['turn_statuses']}"
        ),
        "load event rtt ms (baseline, product)": (
            f"{summary(baseline['event_rtt_ms'])}, {summary(product['event_rtt_ms'])}"
        ),
        "load peer RSS MiB (idle, first call warm, all open, end)": (
            ", ".join(f"{v:.1f}" for v in product["rss_mib"].values())
        ),
        "load assistant audio heard (s, baseline, product)": (
            f"{baseline['audible_s']}, {product['audible_s']}"
        ),
        "load calls lost, errors (product)": f"{product['calls_lost']}, {product['errors'][:3]}",
        "load losses [call, s into the window, how] (product)": f"{product.get('losses', [])[:4]}",
        "load CPU used, % of one core (peer + its recognition/speech children + client)": (
            f"{_demand(product):.0f} for {calls} calls on {product['machine']['cpus']} cores "
            f"(baseline, 1 call: {_demand(baseline):.0f})"
        ),
        "load event loop runnable but waiting for a CPU, % of the window (peer, client)": (
            ", ".join(f"{v:.0f}" for v in product["machine"]["loop_cpu_wait_pct"].values())
            + f"; 1-min load average {product['machine']['loadavg_1min']:.1f}"
        ),
        "load connect ms of each call (product)": f"{product['live_connect_ms']}",
        f"load call {calls + 1}": f"{refused.get('status')} {error.get('code')}: "
        f"{error.get('message')}",
    }
    return baseline, product


def _demand(r: dict[str, Any]) -> float:
    """CPU % of one core the window used: peer, its children, client (all of the load; what
    the load needs only when the loops did not wait for a CPU)."""
    return float(
        r["usage"]["peer"]["cpu_percent"]
        + r["usage"]["client"]["cpu_percent"]
        + r["machine"]["peer_children_cpu_pct"]
    )


def turns_answered(prod: dict[str, Any], raw: dict[str, Any], *, raw_too: bool) -> Any:
    """The share of turns answered (target: every one, no call lost; ``raw_too``: the
    baseline's as well)."""

    def answered_pct(r: dict[str, Any]) -> float:
        return 100.0 * r["turns_answered"] / r["turns_asked"] if r["turns_asked"] else math.nan

    every = record(answered_pct(prod), answered_pct(raw), "%", None)
    every.update(
        target="= 100 %",
        **{
            "pass": prod["turns_asked"] > 0
            and not prod["calls_lost"]
            and prod["turns_answered"] == prod["turns_asked"]
            and (not raw_too or raw["turns_answered"] == raw["turns_asked"])
        },
    )
    return every


def load_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    def cpu(r: dict[str, Any], who: str) -> float:
        return float(r["usage"][who]["cpu_percent"])

    every = turns_answered(prod, raw, raw_too=True)
    refused = prod.get("over_limit") or {}
    body = refused.get("body")
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    over = record(float(refused.get("status") or 0), math.nan, "HTTP status", None)
    over.update(
        target="429", **{"pass": refused.get("status") == 429 and code == "rate_limit_exceeded"}
    )
    n = prod["calls"]
    return {
        "load_turns_answered_pct": every,
        "load_event_rtt_p50_ms": record(
            median(prod["event_rtt_ms"]), median(raw["event_rtt_ms"]), "ms", None
        ),
        "load_event_rtt_p99_ms": record(
            percentile(prod["event_rtt_ms"], 99), percentile(raw["event_rtt_ms"], 99), "ms", None
        ),
        "load_turn_latency_p50_ms": record(
            median(prod["turn_latency_ms"]), median(raw["turn_latency_ms"]), "ms", None
        ),
        "load_turn_latency_p99_ms": record(
            percentile(prod["turn_latency_ms"], 99),
            percentile(raw["turn_latency_ms"], 99),
            "ms",
            None,
        ),
        "load_peer_rss_per_call_mib": record(prod["rss_per_call_mib"], math.nan, "MiB", None),
        "load_peer_cpu_pct": record(cpu(prod, "peer"), cpu(raw, "peer"), "% of one core", None),
        "load_peer_cpu_per_call_pct": record(
            cpu(prod, "peer") / n, cpu(raw, "peer"), "% of one core", None
        ),
        "load_client_cpu_pct": record(
            cpu(prod, "client"), cpu(raw, "client"), "% of one core", None
        ),
        "load_cpu_per_call_pct": record(
            _demand(prod) / n, _demand(raw), "% of one core (peer, its children, client)", None
        ),
        "load_peer_loop_cpu_wait_pct": record(
            prod["machine"]["loop_cpu_wait_pct"]["peer"],
            raw["machine"]["loop_cpu_wait_pct"]["peer"],
            "% of the window",
            None,
        ),
        "load_call_over_limit_status": over,
    }
