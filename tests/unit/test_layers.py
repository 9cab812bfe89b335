"""The package's layers, read from the source: no import cycles, imports point down only.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency, and a cycle through one is still a tangle to read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "server" / "vivavoce"

#: What each part may never import (DESIGN.md, CONTRIBUTING.md).
FORBIDDEN = {
    "vivavoce.realtime": ("vivavoce.lsp", "vivavoce.conversation", "vivavoce.cli", "vivavoce.web"),
    "vivavoce.audio": ("vivavoce.lsp", "vivavoce.conversation", "vivavoce.cli", "vivavoce.web"),
    "vivavoce.text": ("vivavoce.lsp", "vivavoce.conversation", "vivavoce.cli", "vivavoce.web"),
    "vivavoce.conversation": ("vivavoce.lsp", "vivavoce.cli", "vivavoce.web"),
    "vivavoce.settings": ("vivavoce.realtime", "vivavoce.conversation", "vivavoce.lsp"),
}
#: The peer is a separate server: it may use only these parts of the product.
PEER_MAY_USE = (
    "vivavoce.peer",
    "vivavoce.realtime.events",
    "vivavoce.rtc",
    "vivavoce.errors",
    "vivavoce.tasks",
    "vivavoce.netguard",
    "vivavoce.vocabulary",
    "vivavoce.pronunciation",
    "vivavoce.lazy",
    "vivavoce.logs",
)


def _module_name(path: Path) -> str:
    parts = ["vivavoce", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every vivavoce module ``path`` imports (absolute names, submodules resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vivavoce"))
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("vivavoce"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if (ROOT.parent / (sub.replace(".", "/"))).exists()
                          or (ROOT.parent / (sub.replace(".", "/") + ".py")).exists()
                          else target)  # fmt: skip
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            # A package's __init__ importing its own submodules is how packages work.
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep in graph and not state.get(dep) and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if not state.get(node) and (found := visit(node)):
            return found
    return None


def test_the_import_graph_is_read_from_the_source() -> None:
    graph = _graph()
    assert "vivavoce.conversation" in graph["vivavoce.lsp.server"]
    assert "vivavoce.realtime.events" in graph["vivavoce.conversation.realtime_mode"]
    assert "vivavoce.settings" in graph["vivavoce.realtime.call"]


def test_there_is_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_a_cycle_would_be_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_point_down_only(part: str) -> None:
    wrong = {
        f"{module} → {dep}"
        for module, deps in _graph().items()
        if module == part or module.startswith(part + ".")
        for dep in deps
        if dep.startswith(FORBIDDEN[part])
    }
    assert not wrong, sorted(wrong)


def test_nothing_imports_the_command_line() -> None:
    wrong = {
        f"{module} → {dep}"
        for module, deps in _graph().items()
        for dep in deps
        if dep == "vivavoce.cli" and module not in ("vivavoce.__main__", "vivavoce.cli")
    }
    assert not wrong, sorted(wrong)


def test_the_peer_uses_nothing_of_the_conversation_or_the_language_server() -> None:
    wrong = {
        f"{module} → {dep}"
        for module, deps in _graph().items()
        if module.startswith("vivavoce.peer") and module != "vivavoce.peer.process"
        for dep in deps
        if not dep.startswith(PEER_MAY_USE)
    }
    assert not wrong, sorted(wrong)
