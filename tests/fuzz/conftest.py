"""Hypothesis profiles: ``ci`` (default, ~100 examples a test) and ``fuzz`` (10,000).

Select with ``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": timedelta(seconds=2),  # one example taking longer counts as a hang
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": False,
}
settings.register_profile("ci", max_examples=100, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz", max_examples=10_000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
