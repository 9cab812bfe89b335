"""Package attributes that load their module on first use (PEP 562), keeping imports cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, home: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__``: ``home`` maps a name to the submodule that defines it."""

    def __getattr__(name: str) -> Any:
        if name in home:
            from importlib import import_module

            return getattr(import_module(f"{package}.{home[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
