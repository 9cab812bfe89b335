"""Soak: many start/stop cycles and one long live call, watching for anything that grows.

    .venv/bin/python -m benchmarks.soak [--cycles 200] [--minutes 10] [--out FILE]

Against the local peer in this process, with real aiortc calls on loopback:

1. ``--cycles`` times: start a call, send a text turn, wait for the reply, stop.
2. One call kept live for ``--minutes`` with audio both ways (the peer answers a text turn
   every 20 s, so its voice keeps flowing back).

File descriptors, threads, asyncio tasks and RSS are sampled after every cycle and every 10 s
of the long call. After a warm-up (the first 10 % of the cycles: imports, decoder pools,
caches), each may grow at most by a small bound; the run fails (exit 1) otherwise. The curve
is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: Growth allowed after warm-up: a few descriptors/tasks for timing (a socket closing late),
#: and RSS for allocator noise.
BOUNDS = {"fds": 8, "threads": 4, "tasks": 4, "rss_mib": 40.0}


def sample() -> dict[str, float]:
    gc.collect()
    with open("/proc/self/status") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "tasks": len(asyncio.all_tasks()),
        "rss_mib": round(rss_kib / 1024, 1),
    }


async def _reply(conv: Any, count: int) -> None:
    async with asyncio.timeout(30):
        while sum(1 for t in conv.turns if t.role == "assistant") < count:
            await asyncio.sleep(0.05)


async def soak(cycles: int, minutes: float) -> dict[str, Any]:
    from vivavoce.conversation import Conversation
    from vivavoce.peer import start_peer
    from vivavoce.settings import Settings

    peer = await start_peer(host="127.0.0.1", port=0)
    settings = Settings(peer=peer.base_url)
    curve: dict[str, list[dict[str, float]]] = {"cycles": [], "call": []}
    try:
        conv = Conversation(settings)
        for n in range(cycles):
            await conv.start()
            await conv.send_text(f"cycle {n}")
            await _reply(conv, n + 1)
            await conv.stop()
            curve["cycles"].append({"cycle": n + 1, **sample()})
            if (n + 1) % 20 == 0:
                print(f"cycle {n + 1}: {curve['cycles'][-1]}", flush=True)
        await conv.close()

        conv = Conversation(settings)
        await conv.start()
        started, turns = time.monotonic(), 0
        while (elapsed := time.monotonic() - started) < minutes * 60:
            turns += 1
            await conv.send_text(f"still talking at {int(elapsed)} seconds")
            await _reply(conv, turns)
            await asyncio.sleep(max(0.0, 20 - (time.monotonic() - started - elapsed)))
            curve["call"].append({"seconds": round(elapsed), **sample()})
            print(f"call {int(elapsed)} s: {curve['call'][-1]}", flush=True)
        await conv.close()
    finally:
        await peer.close()
    return curve


def verdict(curve: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Growth within each phase, from its first point after warm-up (a live call holds more
    tasks and threads than an idle server, so the phases are not compared with each other)."""
    growth: dict[str, dict[str, float]] = {}
    for phase, points in curve.items():
        warm = max(1, len(points) // 10)
        if len(points) <= warm:
            continue
        base = points[warm - 1]
        growth[phase] = {k: max(p[k] - base[k] for p in points[warm:]) for k in BOUNDS}
    ok = all(g[k] <= BOUNDS[k] for g in growth.values() for k in BOUNDS)
    return {"max_growth": growth, "bounds": BOUNDS, "pass": ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/soak.json"))
    args = parser.parse_args(argv)
    curve = asyncio.run(soak(args.cycles, args.minutes))
    result = {"curve": curve, **verdict(curve)}
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=2))
    print(f"{'PASS' if result['pass'] else 'FAIL'}: curve in {args.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
