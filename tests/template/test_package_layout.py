"""The layout holds: no import cycle between the parts of either package (a part is a subpackage or a
top-level module: ``accesswatch.cases``, ``accesswatch.dal``, ``accesswatch.models``, ...), the shared
value types depend on nothing but time, and the runtime package never imports the tools package.
Imports inside functions count: they are cycles deferred, not removed."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from accesswatch_tools.embedded.template import PROJECT_ROOT

PACKAGES = {"accesswatch": PROJECT_ROOT / "layers" / "shared" / "accesswatch",
            "accesswatch_tools": PROJECT_ROOT / "tools" / "accesswatch_tools"}


def _part(package: str, root: Path, path: Path) -> str:
    relative = path.relative_to(root).with_suffix("").parts
    return f"{package}.{relative[0]}" if relative[0] != "__init__" else package


def imported_names(path: Path) -> list[str]:
    """Every module or name an absolute import in the file names (``from a.b import c`` -> a.b, a.b.c)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def import_graph(package: str) -> dict[str, set[str]]:
    """Part -> the other parts of the same package it imports."""
    root = PACKAGES[package]
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        source = _part(package, root, path)
        graph[source]  # noqa: B018 - every part is a node
        for name in imported_names(path):
            parts = name.split(".")
            if parts[0] != package or len(parts) < 2:
                continue
            if (root / parts[1]).is_dir() or (root / f"{parts[1]}.py").exists():
                target = f"{package}.{parts[1]}"
                if target != source:
                    graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle_between_the_parts_of_a_package(package: str) -> None:
    graph = import_graph(package)
    assert len(graph) > 5
    assert cycles(graph) == []


def test_the_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_shared_value_types_depend_on_nothing_but_time() -> None:
    assert import_graph("accesswatch")["accesswatch.models"] <= {"accesswatch.quarters"}


def test_the_runtime_package_never_imports_the_tools_package() -> None:
    for path in PACKAGES["accesswatch"].rglob("*.py"):
        assert not [n for n in imported_names(path) if n.split(".")[0] == "accesswatch_tools"], path
