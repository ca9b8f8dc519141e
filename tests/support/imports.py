"""Import graphs of the project's packages, read from the source with `ast` (an import inside a function or under
TYPE_CHECKING counts as well), and their cycles. Used by tests/stacks/test_imports.py and
tests/runtime/test_import_cycles.py."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path


def module_name(file: Path, root: Path) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports (`from a import b` names module `a.b` if there is one)."""
    files = {module_name(file, root): file for file in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, file in files.items():
        is_package = file.name == "__init__.py"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, is_package, node.module, node.level)
                imported.update(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names
                )
        graph[name] = {target for target in imported if target in files and target != name}
    return graph


def _absolute(module: str, is_package: bool, target: str | None, level: int) -> str:
    if level == 0:
        return target or ""
    anchor = module.split(".")[: len(module.split(".")) - level + (1 if is_package else 0)]
    return ".".join([*anchor, *([target] if target else [])])


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def collapsed(graph: Mapping[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between packages: each module named by its first `depth` parts (`runtime.db.session` ->
    `runtime.db` at depth 2); edges inside one package are dropped."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:depth])

    result: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = package(module)
        result.setdefault(source, set()).update(package(t) for t in targets if package(t) != source)
    return result
