"""Run every benchmark, baseline and product side by side, in one invocation.

    python -m benchmarks.run [--quick] [--out benchmarks/results.json] [--only NAME[,NAME]]

Groups (``--only``): ``connect``, ``rtt``, ``duplex``. Every measurement runs in fresh
processes: a server (the raw aiortc echo peer, or the product's ``vivavoce peer --mode echo``)
and a client (``benchmarks.raw_aiortc offerer`` or ``benchmarks.product_client``), so both sides
pay the same process, import and loopback costs, and CPU/RSS compare like with like.

* connect — baseline: ``RTCPeerConnection()`` → data channel open (one SDP POST);
  product: ``await call.start()`` → LIVE (key POST, SDP POST, channel open, session.created).
  ``rounds`` fresh process pairs per side, sides alternating, ``runs`` sequential calls each
  after one warm-up call; the median of all pooled calls.
* rtt — 1 kHz bursts after silence, echoed by the server; onset detection on the received
  mono signal; median and p95 round trip. Baseline keeps aiortc's default jitter buffer.
  One side after the other.
* duplex — a continuous tone both ways (the server echoes it) for ``duration`` seconds, both
  sides' calls running at the same time and measured over the same window, which starts 1 s
  after both are up. CPU % of one core = CPU seconds / wall seconds over the window; "total"
  counts both processes of a side (client + server), "client" the calling process only.
  Peak RSS is each process's high-water mark (VmHWM, imports included).
* impaired — the rtt task through ``tests.netsim``'s relay at ``BAD_NETWORK`` (5 % loss,
  40 ± 30 ms, reordering): mouth-to-ear (burst → echo onset) and the audio that never reached
  the sink (RTP-time holes), product vs aiortc's default buffer. See ``bench_impaired``.
* callcpu — CPU milliseconds per call-second of 4 calls (audio both ways, a turn every 15 s),
  by part (peer loop, peer threads, recognition/speech children, client), aiortc's audio path
  (baseline) vs the Opus silence shortcuts and inline decoding. See ``benchmarks.callcpu_bench``.
* vocabulary — 32 synthesized programming sentences (flite, voices rms and slt) recognized by
  the local peer without (baseline) and with the code vocabulary (product): word error rate and
  identifiers right (target ≥ 80 %). See ``benchmarks.vocab_bench``.
* reply — end of the user's speech → first audible reply frame, ≥ 20 spoken turns with 500 ms
  of VAD silence: the built-in stack (baseline column; target p50 ≤ 750 ms) and the peer in
  front of upstream servers of known latency (product; the overhead beyond them ≤ 30 ms p50),
  with replies started ahead (the default) and, for comparison, without (``speculate=False``).
  See ``benchmarks.reply_bench``.
* wakeword — the local wake word spotter: hits on 64 synthesized "hey viva, …" utterances (two
  voices, two levels; target ≥ 90 %), false triggers on ≥ 10 min of other speech and noise fed
  faster than real time (target < 1 per hour), CPU of a server waiting for it with real
  (virtual) devices (target ≤ 5 % of a core) and its loop lag. See ``benchmarks.wake_bench``.

Writes ``--out`` (metric → product, baseline, unit, ratio, target, pass; informational metrics
have target and pass null), a ``*.details.json`` next to it (raw samples, call timings, jitter
counters, per-process usage) and prints a table. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import (
    callcpu_bench,
    conversation_bench,
    devices_bench,
    load_bench,
    lsp_bench,
    reply_bench,
    vocab_bench,
    wake_bench,
)
from benchmarks.harness import LISTENING, START_LIMIT, Child, measure_window, serving
from benchmarks.stats import median, percentile, record, summary

GROUPS = (
    "connect", "rtt", "duplex", "lsp_startup", "lsp_status", "lsp_transcript", "interrupt",
    "toggle", "devices", "impaired", "load", "callcpu", "vocabulary", "reply", "wakeword",
)  # fmt: skip


@dataclass(frozen=True)
class Config:
    rounds: int  # connect: fresh process pairs per side
    runs: int  # connect: calls per round and side (after one warm-up)
    bursts: int  # rtt: bursts per side
    period: float  # rtt: seconds between bursts
    duration: float  # duplex: seconds measured
    impaired_bursts: int  # impaired: bursts per side through the bad network

    def client_args(self, task: str) -> list[str]:
        return [
            "--task", task, "--runs", str(self.runs),
            "--bursts", str(self.bursts), "--period", str(self.period),
        ]  # fmt: skip


FULL = Config(rounds=3, runs=10, bursts=20, period=0.5, duration=60.0, impaired_bursts=40)
QUICK = Config(rounds=2, runs=5, bursts=10, period=0.5, duration=10.0, impaired_bursts=20)
#: impaired: seconds between bursts. Longer than any round trip seen through the bad network
#: (aiortc's default buffer reached ≈ 0.8 s), so each echo pairs with its own burst.
IMPAIRED_PERIOD = 1.5


@dataclass(frozen=True)
class Side:
    """How to start one side's server and client."""

    name: str
    server_module: str
    server_args: tuple[str, ...]
    client_module: str
    client_args: tuple[str, ...]

    def server(self) -> Child:
        return Child(f"{self.name} server", self.server_module, *self.server_args)

    def client(self, url: str, extra: list[str]) -> Child:
        return Child(
            f"{self.name} client", self.client_module, *self.client_args, "--url", url, *extra
        )


BASELINE = Side(
    "baseline", "benchmarks.raw_aiortc", ("echo",), "benchmarks.raw_aiortc", ("offerer",)
)


def _peer_module() -> str:
    """``vivavoce.peer`` when it is runnable with ``-m``, else its CLI module."""
    import importlib.util

    return (
        "vivavoce.peer"
        if importlib.util.find_spec("vivavoce.peer.__main__")
        else ("vivavoce.peer.cli")
    )


PRODUCT = Side(
    "product",
    _peer_module(),
    ("--host", "127.0.0.1", "--port", "0", "--mode", "echo"),
    "benchmarks.product_client",
    (),
)

Pair = tuple[dict[str, Any], dict[str, Any]]  # (baseline result, product result)


def running(side: Side, task: str, cfg: Config) -> AbstractAsyncContextManager[tuple[Child, Child]]:
    """``side``'s server and a client running ``task``; both are ended on exit."""
    return serving(side.server(), lambda url: side.client(url, cfg.client_args(task)))


async def bench_connect(cfg: Config) -> Pair:
    """``cfg.rounds`` rounds of fresh process pairs, sides alternating; samples pooled."""
    pooled: dict[str, dict[str, Any]] = {
        s.name: {"connect_ms": [], "timings": [], "round_medians_ms": []}
        for s in (BASELINE, PRODUCT)
    }
    for r in range(cfg.rounds):
        for side in (BASELINE, PRODUCT) if r % 2 == 0 else (PRODUCT, BASELINE):
            async with running(side, "connect", cfg) as (_, client):
                result = await client.event("result", 30.0 + 5.0 * cfg.runs)
            pool = pooled[side.name]
            pool["connect_ms"] += result["connect_ms"]
            pool["timings"] += result["timings"]
            pool["round_medians_ms"].append(round(median(result["connect_ms"]), 2))
    return pooled[BASELINE.name], pooled[PRODUCT.name]


async def bench_rtt(cfg: Config) -> Pair:
    """One call per side, one after the other (nothing else running during a measurement)."""
    out = []
    for side in (BASELINE, PRODUCT):
        async with running(side, "rtt", cfg) as (_, client):
            out.append(await client.event("result", 60.0 + cfg.bursts * cfg.period))
    return out[0], out[1]


async def bench_duplex(cfg: Config) -> Pair:
    """Both sides' calls at once, measured over the same window.

    Running them together makes machine-wide noise (frequency scaling, other load) common to
    both, which matters for a ratio target of 1.0: measured one after the other, the same code
    varied by ±10 % between 10 s windows; paired, by a few percent.
    """
    async with contextlib.AsyncExitStack() as stack:
        procs = [
            await stack.enter_async_context(running(side, "duplex", cfg))
            for side in (BASELINE, PRODUCT)
        ]
        for _, client in procs:
            await client.event("live", 60.0)
        await asyncio.sleep(1.0)  # leave connection set-up out of the window
        results = await measure_window(
            dict(zip(("baseline", "product"), procs, strict=True)), cfg.duration, 10.0
        )
    return results["baseline"], results["product"]


async def bench_impaired(cfg: Config) -> Pair:
    """The rtt task through :data:`tests.netsim.BAD_NETWORK`, one side after the other.

    The runner starts each side's server, puts a :class:`tests.netsim.NetSim` relay (this
    process, 127.0.0.1) in front of it and gives the client the relay's URL: every datagram of
    the call, both ways, is impaired, and neither side knows another path. Same seed per side,
    so both see the same sequence of random choices (not the same packets: timing differs).
    """
    from tests.netsim import BAD_NETWORK, NetSim

    args = ["--task", "rtt", "--bursts", str(cfg.impaired_bursts), "--period"]
    args.append(str(IMPAIRED_PERIOD))
    out = []
    for side in (BASELINE, PRODUCT):
        server = await side.server().start()
        try:
            url = (await server.wait_for_pattern(LISTENING, START_LIMIT)).group(1)
            async with NetSim(url, BAD_NETWORK, seed=17) as net:
                client = await side.client(net.base_url, args).start()
                try:
                    limit = 90.0 + cfg.impaired_bursts * IMPAIRED_PERIOD
                    result = await client.event("result", limit)
                finally:
                    await client.stop()
                result["relay"] = dict(net.counts())
                out.append(result)
        finally:
            await server.stop(terminate=True)
    return out[0], out[1]


def _step_medians(timings: list[dict[str, float]]) -> dict[str, float]:
    keys = list(timings[0]) if timings else []
    return {k: round(median([t[k] for t in timings if k in t]), 2) for k in keys}


def connect_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    return {"connect_ms": record(median(prod["connect_ms"]), median(raw["connect_ms"]), "ms", 1.25)}


def rtt_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    r, p = raw["rtt_ms"], prod["rtt_ms"]
    return {
        "audio_rtt_median_ms": record(median(p), median(r), "ms", 0.35),
        "audio_rtt_p95_ms": record(percentile(p, 95), percentile(r, 95), "ms", 0.35),
    }


def duplex_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    ru, pu = raw["usage"], prod["usage"]

    def total(u: dict[str, Any]) -> float:
        return float(u["client"]["cpu_percent"] + u["server"]["cpu_percent"])

    return {
        "duplex_cpu_total_pct": record(total(pu), total(ru), "% of one core", 1.0),
        "duplex_cpu_client_pct": record(
            pu["client"]["cpu_percent"], ru["client"]["cpu_percent"], "% of one core", 1.0
        ),
        "duplex_cpu_server_pct": record(
            pu["server"]["cpu_percent"], ru["server"]["cpu_percent"], "% of one core", None
        ),
        "duplex_peak_rss_client_mib": record(
            pu["client"]["peak_rss_mib"], ru["client"]["peak_rss_mib"], "MiB", None
        ),
        "duplex_peak_rss_server_mib": record(
            pu["server"]["peak_rss_mib"], ru["server"]["peak_rss_mib"], "MiB", None
        ),
    }


def impaired_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    """Mouth-to-ear = a burst's echo round trip through the bad network (both ways impaired).

    Gaps are counted per minute of the stream the sender sent (audio received + audio missing),
    not of the audio received: a side that throws more away must not get a smaller divisor.
    Neither side conceals or recovers a lost packet (aiortc: no FEC, no NACK for audio), so the
    gap *count* follows the network's loss; how much audio each gap costs is the buffer's doing.
    """
    r, p = raw["rtt_ms"], prod["rtt_ms"]

    def stream_min(result: dict[str, Any]) -> float:
        return max(float(result["audio_s"]) + float(result["missing_ms"]) / 1000.0, 1e-9) / 60

    def missing_pct(result: dict[str, Any]) -> float:
        return float(result["missing_ms"]) / 600.0 / stream_min(result)

    return {
        "impaired_m2e_median_ms": record(median(p), median(r), "ms", 1.0),
        "impaired_m2e_p95_ms": record(percentile(p, 95), percentile(r, 95), "ms", 1.0),
        "impaired_audio_missing_pct": record(
            missing_pct(prod), missing_pct(raw), "% of the stream", 1.0
        ),
        "impaired_gaps_per_min": record(
            prod["gaps"] / stream_min(prod), raw["gaps"] / stream_min(raw), "gaps / min", None
        ),
        "impaired_echoes_heard_pct": record(
            100.0 * len(p) / max(prod["sent"], 1), 100.0 * len(r) / max(raw["sent"], 1), "%", None
        ),
    }


BENCHES: dict[str, tuple[Callable[[Config], Awaitable[Pair]], Callable[..., dict[str, Any]]]] = {
    "connect": (bench_connect, connect_metrics),
    "rtt": (bench_rtt, rtt_metrics),
    "duplex": (bench_duplex, duplex_metrics),
    "lsp_startup": (lsp_bench.bench_startup, lsp_bench.startup_metrics),
    "lsp_status": (lsp_bench.bench_status, lsp_bench.status_metrics),
    "lsp_transcript": (lsp_bench.bench_transcript, lsp_bench.transcript_metrics),
    "interrupt": (conversation_bench.bench_interrupt, conversation_bench.interrupt_metrics),
    "toggle": (conversation_bench.bench_toggle, conversation_bench.toggle_metrics),
    "devices": (devices_bench.bench_devices, devices_bench.devices_metrics),
    "impaired": (bench_impaired, impaired_metrics),
    "load": (load_bench.bench_load, load_bench.load_metrics),
    "callcpu": (callcpu_bench.bench_callcpu, callcpu_bench.callcpu_metrics),
    "vocabulary": (vocab_bench.bench_vocabulary, vocab_bench.vocabulary_metrics),
    "reply": (reply_bench.bench_reply, reply_bench.reply_metrics),
    "wakeword": (wake_bench.bench_wakeword, wake_bench.wakeword_metrics),
}


def details_of(group: str, raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"baseline": raw, "product": prod}
    if group == "connect":
        out["baseline_summary"] = summary(raw["connect_ms"])
        out["product_summary"] = summary(prod["connect_ms"])
        out["baseline_step_medians_ms"] = _step_medians(raw.get("timings", []))
        out["product_step_medians_ms"] = _step_medians(prod.get("timings", []))
    elif group in ("rtt", "impaired"):
        out["baseline_summary"] = summary(raw["rtt_ms"])
        out["product_summary"] = summary(prod["rtt_ms"])
    return out


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.2f}"
    return "-" if x is None else str(x)


def table(metrics: dict[str, Any], notes: dict[str, str]) -> str:
    head = ("metric", "baseline", "product", "unit", "ratio", "target", "pass")
    rows = [head]
    for name, m in metrics.items():
        ok = {True: "PASS", False: "FAIL", None: "info"}[m["pass"]]
        rows.append(
            (name, _fmt(m["baseline"]), _fmt(m["product"]), m["unit"], _fmt(m["ratio"]),
             m["target"] or "-", ok)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"  {k}: {v}" for k, v in notes.items()]
    return "\n".join(lines)


def _notes(group: str, raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, str]:
    if "notes" in prod:  # groups that bring their own table notes (lsp_*)
        return dict(prod["notes"])
    if group == "connect":
        return {
            "connect medians per round (baseline, product)": f"{raw['round_medians_ms']}, "
            f"{prod['round_medians_ms']}",
            "connect baseline steps (median ms from start)": json.dumps(
                _step_medians(raw.get("timings", []))),
            "connect product steps (median ms from start)": json.dumps(
                _step_medians(prod.get("timings", []))),
        }  # fmt: skip
    if group == "rtt":
        return {
            "rtt echoes matched (baseline, product)": f"{len(raw['rtt_ms'])}/{raw['sent']}, "
            f"{len(prod['rtt_ms'])}/{prod['sent']}",
            "rtt product jitter buffer": json.dumps(prod.get("jitter")),
        }
    if group == "impaired":
        return {
            "impaired echoes matched (baseline, product)": f"{len(raw['rtt_ms'])}/{raw['sent']}, "
            f"{len(prod['rtt_ms'])}/{prod['sent']}",
            "impaired m2e max (baseline, product)": f"{max(raw['rtt_ms'], default=math.nan):.0f}, "
            f"{max(prod['rtt_ms'], default=math.nan):.0f} ms",
            "impaired product jitter buffer": json.dumps(prod.get("jitter")),
        }
    ru, pu = raw["usage"], prod["usage"]
    return {
        "duplex window (s)": f"baseline {raw['wall_s']:.1f}, product {prod['wall_s']:.1f}",
        "duplex frames received by client": f"baseline {raw['frames']}, product {prod['frames']}",
        "duplex product jitter buffer": json.dumps(prod.get("jitter")),
        "duplex sampled peak RSS client (MiB)": f"baseline "
        f"{ru['client']['sampled_peak_rss_mib']:.1f}, product "
        f"{pu['client']['sampled_peak_rss_mib']:.1f}",
    }


async def measure(
    cfg: Config, groups: list[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Run ``groups``, baseline then product each; metrics, details and table notes."""
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"config": vars(cfg)}
    notes: dict[str, str] = {}
    t_start = time.perf_counter()
    for group in groups:
        bench, to_metrics = BENCHES[group]
        print(f"[{time.perf_counter() - t_start:5.1f}s] {group} …", file=sys.stderr)
        raw, prod = await bench(cfg)
        metrics.update(to_metrics(raw, prod))
        details[group] = details_of(group, raw, prod)
        notes.update(_notes(group, raw, prod))
    details["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    return metrics, details, notes


def compile_sources() -> None:
    """Byte-compile vivavoce and the benchmarks, so both sides start as installed packages do.

    ``pip install`` compiles a package's modules; an editable install under
    ``PYTHONDONTWRITEBYTECODE`` (set on these machines) would instead recompile vivavoce's
    sources at every process start (measured: ≈ 60 ms of the language server's startup).
    """
    import compileall

    import vivavoce

    for folder in (Path(vivavoce.__file__).parent, Path(__file__).parent):
        compileall.compile_dir(folder, quiet=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer runs, 10 s duplex call")
    p.add_argument("--out", default="benchmarks/results.json")
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        help=f"comma-separated groups: {', '.join(GROUPS)}",
    )
    args = p.parse_args(argv)
    unknown = set(args.only or []) - set(GROUPS)
    if unknown:
        p.error(f"unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    cfg = QUICK if args.quick else FULL
    groups = [g for g in GROUPS if not args.only or g in args.only]
    compile_sources()
    metrics, details, notes = asyncio.run(measure(cfg, groups))
    details["quick"] = args.quick
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2) + "\n")
    details_path = out.with_suffix(".details.json")
    details_path.write_text(json.dumps(details, indent=2) + "\n")
    print(table(metrics, notes))
    print(f"wrote {out} and {details_path} in {details['elapsed_s']} s")
    sys.exit(0 if all(m["pass"] is not False for m in metrics.values()) else 1)


if __name__ == "__main__":
    main()
