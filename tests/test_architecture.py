"""The dependency rule of docs/architecture.md: commands -> features -> the cassette format, never back.

Read from the source (every import, at the top, inside a function or under TYPE_CHECKING), so an
import hidden from the interpreter still counts; and from a fresh interpreter, for what loading a
module really pulls in (mitmproxy stays out of the replayer).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rec", "recorder", "replayer")
# The ground floor: the format and what every feature shares. They import no feature.
FORMAT = {"rec", "rec.cassette", "rec.config", "rec.encoding", "rec.jsonpath", "rec.locking", "rec.normalize",
          "rec.redaction", "rec.sse", "rec.urls"}
# The top: commands and test integrations, which may use any feature.
TOP = ("rec.cli", "rec.testing", "rec.__main__")
# Each feature, and the other features it may use (each arrow has a reason a reader can check).
FEATURES: dict[str, set[str]] = {
    "recorder": set(),
    "replayer": {"rec.synth"},  # a `rec serve` session can be built from a scenario
    "rec.synth": {"rec.check"},  # it refuses to write a stream that breaks the protocol's rules
    "rec.check": set(),
    "rec.diff": set(),
    "rec.show": {"rec.diff"},  # a cassette's totals are the tokens and times rec diff reads from answers
    # A page shows bytes as `rec show --json` does, reads a replay report as the replayer writes it, and lays
    # out the pairs `rec diff` judged (its html format is a page; rec.diff knows nothing of pages).
    "rec.view": {"rec.show", "replayer", "rec.diff"},
}


def part_of(module: str) -> str:
    """The layer or feature a module belongs to; AssertionError for a module nobody placed."""
    if module in FORMAT:
        return "format"
    for name in (*TOP, *FEATURES):
        if module == name or module.startswith(name + "."):
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to FORMAT, TOP or FEATURES in {__file__}")


@cache
def import_graph() -> dict[str, set[str]]:
    """Each module of the packages -> the modules of the packages it imports, wherever the import stands."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {module for module in imported if module in modules} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_two_modules_import_each_other() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_import_goes_down_the_layers() -> None:
    wrong = []
    for module, imported in import_graph().items():
        mine = part_of(module)
        for other in imported:
            theirs = part_of(other)
            if mine == theirs or theirs == "format" or mine in TOP:
                continue
            if mine == "format" or theirs in TOP or theirs not in FEATURES.get(mine, set()):
                wrong.append(f"{module} ({mine}) imports {other} ({theirs})")
    assert wrong == []


def modules_loaded_by(module: str) -> set[str]:
    script = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("feature", ["replayer.server", "replayer.sessions", "rec.synth.scenario", "rec.diff.render"])
def test_replaying_loads_no_mitmproxy(feature: str) -> None:
    assert not {m for m in modules_loaded_by(feature) if m.startswith("mitmproxy")}
