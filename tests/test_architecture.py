"""The house's import rules, read from the source (nothing is imported): imports run one way, without cycles.

- No cycle among vpa_stream's modules through module-level imports (the ones that run when a module loads;
  ``if TYPE_CHECKING:`` blocks do not). The engine modules are compiled with mypyc, where a cycle is not a
  curiosity but a load failure.
- Nothing outside ``vpa_stream/cli/`` imports ``vpa_stream.cli``, not even inside a function: the commands
  are the top layer, and library code must be usable without argparse.
"""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import vpa_stream

ROOT = Path(vpa_stream.__file__).parent
CLI = "vpa_stream.cli"


def _modules() -> dict[str, Path]:
    """Every module and package of vpa_stream by dotted name -> its source file (found by walking, not import)."""
    found = {"vpa_stream": ROOT / "__init__.py"}

    def walk(path: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(path)]):
            name = f"{prefix}.{info.name}"
            if info.ispkg:
                found[name] = path / info.name / "__init__.py"
                walk(path / info.name, name)
            elif (path / f"{info.name}.py").exists():  # not a compiled-only extension module
                found[name] = path / f"{info.name}.py"

    walk(ROOT, "vpa_stream")
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, tree: ast.AST, module_level: bool) -> Iterator[tuple[str, int]]:
    """(vpa_stream module imported, line) for each import of the tree; module_level: skip function bodies."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if module_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolved(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield from _resolved(sub if sub in MODULES else base, node.lineno)
        stack.extend(ast.iter_child_nodes(node))


def _resolved(dotted: str, line: int) -> Iterator[tuple[str, int]]:
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]  # vpa_stream.x.name: the module is vpa_stream.x
    if dotted:
        yield dotted, line


def _graph(module_level: bool) -> dict[str, dict[str, int]]:
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = graph.setdefault(name, {})
        for target, line in _imports(name, tree, module_level):
            if target != name:
                edges.setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_walk_finds_the_rooms_and_the_engine() -> None:
    for name in ("vpa_stream.cli", "vpa_stream.cli.backfill", "vpa_stream.schemas.codec",
                 "vpa_stream.processors.engine.engine", "vpa_stream.producers.sources.specs", "vpa_stream.sinks.jsonl"):
        assert name in MODULES, name
    graph = _graph(module_level=True)
    assert "vpa_stream.schemas.models" in graph["vpa_stream.processors.engine.engine"]


def test_no_import_cycle_among_vpa_stream_modules() -> None:
    graph = _graph(module_level=True)
    found = _cycles(graph)
    detail = ["; ".join(f"{a} -> {b} (line {graph[a][b]})" for a in c for b in graph[a] if b in c) for c in found]
    assert not found, "module-level import cycles: " + " | ".join(detail)


def test_the_cycle_check_would_see_a_cycle() -> None:
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_nothing_outside_cli_imports_cli() -> None:
    offenders = [f"{name} line {line}"
                 for name, edges in _graph(module_level=False).items()
                 if not (name == CLI or name.startswith(CLI + "."))
                 for target, line in edges.items() if target == CLI or target.startswith(CLI + ".")]
    assert not offenders, "imports of vpa_stream.cli from library code: " + ", ".join(offenders)
