"""The shape of the code: no import cycle anywhere, no module of 500 lines or more.

Which package may import which is checked by the import contracts in pyproject.toml
(``lint-imports``, part of ``make lint``); the graph here is the same one (grimp's), with
function-level and ``TYPE_CHECKING`` imports counted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scout_contract", "scout_bundles", "dataflows", "grafana", "edge_runtime", "bundle_tooling", "scout_cli")
MAX_LINES = 500


def import_cycles(modules: Iterable[str], imports_of: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """Every set of modules that import one another in a circle (Tarjan's strongly connected components).

    >>> graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    >>> import_cycles(graph, lambda m: graph[m])
    [['a', 'b', 'c'], ['e']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in imports_of(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1 or module in imports_of(module):
                cycles.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(cycles)


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert import_cycles(graph.modules, graph.find_modules_directly_imported_by) == []


def test_the_dataflows_import_neither_the_device_nor_grafana() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    for other in ("edge_runtime", "grafana", "bundle_tooling", "scout_cli"):
        assert not graph.chain_exists("dataflows", other, as_packages=True), other


def test_every_module_is_under_500_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text("utf-8").splitlines())
        for folder in (*PACKAGES, "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert sizes and not {p: n for p, n in sizes.items() if n >= MAX_LINES}
