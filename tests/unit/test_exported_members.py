"""The lazy packages' ``__all__``, lazy tables and ``dir()`` agree (httpx checks its own alike).

A package that loads names on first use (:mod:`vivavoce.lazy`) states its API three times:
``__all__``, the table of where each lazy name lives, and what it defines at import. Adding a
name to one and not the others fails here.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import vivavoce
from vivavoce.lazy import LazyAttributes

SOURCES = Path(vivavoce.__file__).parent


def lazy_packages() -> list[str]:
    """Every package whose ``__init__.py`` uses ``lazy_attributes``, found in the sources."""
    return sorted(
        ".".join(("vivavoce", *init.parent.relative_to(SOURCES).parts))
        for init in SOURCES.rglob("__init__.py")
        if "lazy_attributes(" in init.read_text(encoding="utf-8")
    )


PACKAGES = lazy_packages()


def table(package: ModuleType) -> dict[str, str]:
    getter = vars(package)["__getattr__"]
    assert isinstance(getter, LazyAttributes), "use vivavoce.lazy.lazy_attributes"
    return dict(getter.home)


def defined_here(package: ModuleType) -> set[str]:
    """Public names the package binds at import that come from itself (not typing, lazy…)."""
    return {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and getattr(value, "__module__", "").startswith(package.__name__)
    }


def test_the_lazy_packages_are_found() -> None:
    assert {"vivavoce.peer", "vivavoce.realtime", "vivavoce.store"} <= set(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    for exported in package.__all__:
        assert getattr(package, exported) is not None, exported


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_what_the_package_defines_plus_its_lazy_table(name: str) -> None:
    package = importlib.import_module(name)
    lazy = table(package)
    assert sorted(package.__all__) == sorted(set(package.__all__)), "a name twice in __all__"
    assert set(lazy) - set(package.__all__) == set(), "lazy names missing from __all__"
    assert set(package.__all__) == defined_here(package) | set(lazy)


@pytest.mark.parametrize(
    "name",
    PACKAGES,
)
def test_dir_lists_every_exported_name(name: str) -> None:
    package = importlib.import_module(name)
    assert set(package.__all__) - set(dir(package)) == set()
