"""Strategies shared by the fuzz tests: JSON values, and dicts shaped like real messages."""

from __future__ import annotations

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
