"""CPU and peak RSS of a set of processes, measured from outside with psutil.

CPU % of one core = (user + system CPU seconds consumed during the window, all threads) /
wall seconds of the window × 100, per process and summed. Peak RSS: the kernel's high-water
mark (``VmHWM`` in ``/proc/PID/status``, the whole life of the process, imports included) when
available, else the largest RSS sampled every ``interval`` seconds during the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


def _peak_rss(proc: psutil.Process) -> int | None:
    try:
        with open(f"/proc/{proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass
class ProcessUsage:
    name: str
    cpu_percent: float
    peak_rss_mib: float
    sampled_peak_rss_mib: float


@dataclass
class UsageSampler:
    """Measure ``pids`` (name → pid) between :meth:`start` and :meth:`stop`."""

    pids: dict[str, int]
    interval: float = 0.25
    _procs: dict[str, psutil.Process] = field(default_factory=dict)
    _cpu0: dict[str, float] = field(default_factory=dict)
    _rss_max: dict[str, int] = field(default_factory=dict)
    _t0: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._procs = {n: psutil.Process(p) for n, p in self.pids.items()}
        self._t0 = time.perf_counter()
        self._cpu0 = {n: _cpu_seconds(p) for n, p in self._procs.items()}
        self._rss_max = {n: p.memory_info().rss for n, p in self._procs.items()}
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for n, p in self._procs.items():
                with contextlib.suppress(psutil.Error):
                    self._rss_max[n] = max(self._rss_max[n], p.memory_info().rss)

    async def stop(self) -> tuple[float, list[ProcessUsage]]:
        """Wall seconds of the window and each process's usage over it."""
        wall = time.perf_counter() - self._t0
        cpu1 = {n: _cpu_seconds(p) for n, p in self._procs.items()}
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        out = []
        for n, p in self._procs.items():
            hwm = _peak_rss(p)
            sampled = self._rss_max[n]
            out.append(
                ProcessUsage(
                    name=n,
                    cpu_percent=(cpu1[n] - self._cpu0[n]) / wall * 100.0,
                    peak_rss_mib=(hwm if hwm is not None else sampled) / MIB,
                    sampled_peak_rss_mib=sampled / MIB,
                )
            )
        return wall, out
