"""Strategies shared by the fuzz tests: JSON values, and dicts shaped like real messages."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def objects_with(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts using real field names (and a few random ones) with random values."""
    return st.dictionaries(
        st.sampled_from(keys) | st.text(max_size=10), json_values, max_size=len(keys) + 2
    )


class Blob(str):
    """A large generated string that reports as its size (Hypothesis prints what it drew)."""

    def __repr__(self) -> str:
        return f"<{len(self)} chars: {str.__repr__(self[:30])}…>"


class BlobBytes(bytes):
    """Like :class:`Blob`, for bytes."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {bytes.__repr__(self[:30])}…>"


def compact(data: bytes) -> bytes:
    """``data``, printed short when it is large."""
    return BlobBytes(data) if len(data) > 2000 else data


# Large values are drawn from prebuilt ones: Hypothesis prints a mapped value as the call that
# made it, megabytes long; a sampled one prints as its repr.
_HUGE = [Blob(c * n) for c in "aé\U0001f600\\" for n in (70_000, 1_100_000)]
#: Strings large enough to cross buffer and message limits.
huge_text = st.sampled_from(_HUGE)
#: The same as JSON request bodies (a string in every field a route reads).
huge_json = st.sampled_from(
    [compact(json.dumps({"input": t, "instructions": t, "model": t}).encode()) for t in _HUGE]
)
#: JSON nested deeper than any parser's recursion limit.
deep_json = st.sampled_from(
    [
        compact((o * n + "1" + c * n).encode())
        for n in (1_100, 100_000)
        for o, c in (("[", "]"), ('{"a":', "}"))
    ]
)


@st.composite
def mutated_lines(draw: st.DrawFn, lines: list[str]) -> str:
    """``lines`` (a real message) with a few lines dropped, duplicated, cut or replaced."""
    out = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["drop", "dup", "cut", "replace", "insert", "swap"]))
        if op == "drop":
            del out[i]
        elif op == "dup":
            out.insert(i, out[i])
        elif op == "cut":
            out[i] = out[i][: draw(st.integers(0, len(out[i])))]
        elif op == "replace":
            out[i] = draw(st.text(max_size=40))
        elif op == "insert":
            out.insert(i, draw(st.text(max_size=40)))
        else:
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
    return "\r\n".join(out)
