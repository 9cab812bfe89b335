"""JSON values as pygls hands them over (no pydantic here: it must load fast)."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """pygls hands custom params over as nested namedtuples; turn them back into JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
