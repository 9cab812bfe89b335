"""Package attributes that load their module on first use (PEP 562), keeping imports cheap.

A package lists its public names in ``__all__`` and says where the lazy ones live::

    __getattr__ = lazy_attributes(__name__, {"Call": "call", ...})
    __dir__ = __getattr__.dir

``tests/unit/test_exported_members.py`` checks that ``__all__``, the table and ``dir()`` agree.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class LazyAttributes:
    """A package's module ``__getattr__``: ``home`` maps a name to the submodule defining it."""

    def __init__(self, package: str, home: Mapping[str, str]) -> None:
        self.package = package
        self.home: Mapping[str, str] = MappingProxyType(dict(home))

    def __call__(self, name: str) -> Any:
        if name in self.home:
            from importlib import import_module

            return getattr(import_module(f"{self.package}.{self.home[name]}"), name)
        raise AttributeError(f"module {self.package!r} has no attribute {name!r}")

    def dir(self) -> list[str]:
        """The package's ``__dir__``: what it holds plus the lazy names, not loaded yet."""
        return sorted({*vars(sys.modules[self.package]), *self.home})


def lazy_attributes(package: str, home: Mapping[str, str]) -> LazyAttributes:
    """The ``__getattr__`` of ``package`` (its ``__name__``) for the names in ``home``."""
    return LazyAttributes(package, home)
