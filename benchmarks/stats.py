"""Small statistics helpers and the shape of one result record.

Percentiles use linear interpolation between closest ranks (numpy's default), so the p95 of
20 samples lies between the 19th and 20th smallest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, min, median, p95, max of ``values`` (for the details file)."""
    return {
        "n": len(values),
        "min": min(values) if values else math.nan,
        "median": median(values),
        "p95": percentile(values, 95.0),
        "max": max(values) if values else math.nan,
    }


def record(product: float, baseline: float, unit: str, max_ratio: float | None) -> dict[str, Any]:
    """One metric of ``results.json``: product vs baseline, and whether the target ratio holds.

    ``max_ratio=None`` marks an informational metric (target null, pass null).
    """
    ratio = product / baseline if baseline and not math.isnan(baseline) else math.nan
    ok: bool | None = None
    if max_ratio is not None:
        ok = bool(not math.isnan(ratio) and ratio <= max_ratio)
    return {
        "product": round(product, 3),
        "baseline": round(baseline, 3),
        "unit": unit,
        "ratio": round(ratio, 3),
        "target": f"<= {max_ratio}x" if max_ratio is not None else None,
        "pass": ok,
    }
