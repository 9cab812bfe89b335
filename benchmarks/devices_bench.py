"""Device benchmarks: mouth-to-ear latency and CPU through virtual PulseAudio devices.

Group ``devices`` of ``python -m benchmarks.run``. A private PulseAudio daemon (user mode, its
own runtime directory) provides three null sinks: ``bm_mic`` (its monitor is the clients'
microphone), ``bm_speaker`` (the clients' speaker; the probe records its monitor) and
``bm_cal`` (the probe's own loop, for calibration). See :mod:`benchmarks.devices_client`.

* mouth-to-ear — probe bursts → virtual microphone → client → echo server → client → virtual
  speaker → probe, minus the probe's own loop; baseline (plain aiortc + sounddevice against the
  raw echo server) then product (``Call`` + ``open_audio`` against ``vivavoce peer --mode echo``).
* duplex CPU — both clients' calls at once with a tone in the microphone, measured over the same
  ``duration`` window (60 s, 10 s with ``--quick``), client processes (servers informational).
  Two windows: the product like for like (echo cancellation off: the raw client has none; the
  target), then as shipped (echo cancellation on; informational: what the canceller costs).
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
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from benchmarks.harness import Child, measure_window, serving
from benchmarks.stats import median, percentile, record

PULSE_KEYS = ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "PULSE_SERVER")


@contextlib.contextmanager
def pulse_daemon() -> Iterator[dict[str, str]]:
    """A private PulseAudio with the three null sinks; yields its client environment."""
    if not shutil.which("pulseaudio"):
        raise RuntimeError("devices benchmark: pulseaudio is not installed (apt-get install "
                           "pulseaudio pulseaudio-utils)")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="vvbm-", dir="/tmp"))
    env = {
        "XDG_RUNTIME_DIR": str(root),
        "PULSE_RUNTIME_PATH": str(root / "pulse"),
        "PULSE_STATE_PATH": str(root / "state"),
        "PULSE_SERVER": f"unix:{root / 'pulse' / 'native'}",
    }
    full = {**os.environ, **env, "HOME": str(root)}
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--system=false", "--use-pid-file=yes",
         "--load=module-native-protocol-unix auth-anonymous=1"],
        env=full, capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    pid = None
    try:
        for _ in range(200):
            info = subprocess.run(["pactl", "info"], env=full, capture_output=True, check=False)
            if info.returncode == 0:
                break
            time.sleep(0.1)
        pid = int((root / "pulse" / "pid").read_text().split()[0])
        for name in ("bm_mic", "bm_speaker", "bm_cal"):
            subprocess.run(
                ["pactl", "load-module", "module-null-sink", f"sink_name={name}"],
                env=full, capture_output=True, timeout=20, check=True,
            )  # fmt: skip
        yield env
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):  # until it exited (a zombie counts as gone)
                status = Path(f"/proc/{pid}/status")
                if not status.exists() or "State:\tZ" in status.read_text():
                    break
                time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)


def _client_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PULSE_SOURCE": "bm_mic.monitor", "PULSE_SINK": "bm_speaker"}


def _probe_env(env: dict[str, str], sink: str, source: str) -> dict[str, str]:
    return {**env, "PULSE_SINK": sink, "PULSE_SOURCE": source}


def _server(side: str) -> Child:
    if side == "baseline":
        return Child("baseline server", "benchmarks.raw_aiortc", "echo")
    return Child(
        "product server", "vivavoce", "peer", "--host", "127.0.0.1", "--port", "0",
        "--mode", "echo",
    )  # fmt: skip


async def _probe(env: dict[str, str], *args: str, limit: float = 120.0) -> dict[str, Any]:
    child = await Child("probe", "benchmarks.devices_client", "probe", *args, env=env).start()
    try:
        return await child.event("result", limit)
    finally:
        await child.stop()


def _client(
    side: str, env: dict[str, str], echo: str = "auto"
) -> AbstractAsyncContextManager[tuple[Child, Child]]:
    """``side``'s echo server and device client (the product's with ``echo`` cancellation)."""
    role = ["raw"] if side == "baseline" else ["product", "--echo", echo]

    def client(url: str) -> Child:
        args = (*role, "--url", url)
        return Child(f"{side} client", "benchmarks.devices_client", *args, env=_client_env(env))

    return serving(_server(side), client)


async def bench_devices(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mouth-to-ear per side (one after the other), then both duplex calls at once."""
    bursts = ["--bursts", str(max(10, cfg.bursts)), "--period", "0.6"]
    out: dict[str, dict[str, Any]] = {"baseline": {}, "product": {}}
    with pulse_daemon() as env:
        cal = await _probe(_probe_env(env, "bm_cal", "bm_cal.monitor"), *bursts)
        probe_loop = median(cal["delays_ms"])
        for side in ("baseline", "product"):
            async with _client(side, env) as (_, client):
                live = await client.event("live", 60.0)
                result = await _probe(_probe_env(env, "bm_mic", "bm_speaker.monitor"), *bursts)
                client.tell_stop()
                done = await client.event("result", 20.0)
            out[side].update(
                m2e_ms=[round(d - probe_loop, 2) for d in result["delays_ms"]],
                m2e_sent=result["sent"],
                probe_flags=result["flags"],
                probe_loop_ms=probe_loop,
                stream_latency=live.get("latency"),
                m2e_client=done,
            )
        for echo, suffix in (("off", ""), ("auto", "_aec")):
            for side, result in (await _duplex(env, cfg.duration, echo)).items():
                out[side]["usage" + suffix] = result.pop("usage")
                out[side]["duplex_client" + suffix] = result
    out["product"]["notes"] = devices_notes(out["baseline"], out["product"])
    return out["baseline"], out["product"]


async def _duplex(env: dict[str, str], duration: float, echo: str) -> dict[str, Any]:
    """Both sides' calls at once, a tone in the microphone: CPU and RSS of each process."""
    async with contextlib.AsyncExitStack() as stack:
        pairs = {
            side: await stack.enter_async_context(_client(side, env, echo))
            for side in ("baseline", "product")
        }
        for _, client in pairs.values():
            await client.event("live", 60.0)
        tone = asyncio.create_task(
            _probe(_probe_env(env, "bm_mic", "bm_cal.monitor"), "--tone",
                   str(duration + 10), limit=duration + 60)
        )  # fmt: skip
        await asyncio.sleep(1.0)
        results = await measure_window(pairs, duration, 20.0)
        tone.cancel()
        with contextlib.suppress(BaseException):
            await tone
    return results


def devices_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    r, p = raw["m2e_ms"], prod["m2e_ms"]
    ru, pu = raw["usage"], prod["usage"]
    return {
        "devices_m2e_median_ms": record(median(p), median(r), "ms", 1.0),
        "devices_m2e_p95_ms": record(percentile(p, 95), percentile(r, 95), "ms", 1.0),
        "devices_duplex_cpu_client_pct": record(
            pu["client"]["cpu_percent"], ru["client"]["cpu_percent"], "% of one core", 1.0
        ),
        "devices_duplex_cpu_client_aec_pct": record(
            prod["usage_aec"]["client"]["cpu_percent"],
            raw["usage_aec"]["client"]["cpu_percent"],
            "% of one core",
            None,
        ),
        "devices_duplex_cpu_server_pct": record(
            pu["server"]["cpu_percent"], ru["server"]["cpu_percent"], "% of one core", None
        ),
        "devices_duplex_peak_rss_client_mib": record(
            pu["client"]["peak_rss_mib"], ru["client"]["peak_rss_mib"], "MiB", None
        ),
    }


def devices_notes(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, str]:
    return {
        "devices probe loop subtracted (ms)": f"{prod['probe_loop_ms']}",
        "devices bursts found (baseline, product)": f"{len(raw['m2e_ms'])}/{raw['m2e_sent']}, "
        f"{len(prod['m2e_ms'])}/{prod['m2e_sent']}",
        "devices stream latency (baseline in/out, product in/out)": f"{raw['stream_latency']}, "
        f"{prod['stream_latency']}",
        "devices product audio counters": str(prod["m2e_client"].get("audio")),
    }
