"""The modules of `stacks/` import each other without cycles (read from the source with `ast`, so an
import inside a function or under TYPE_CHECKING counts as well)."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import cycles, import_graph

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "stacks"


def test_import_graph_stacks_modules_have_no_cycle() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert "stacks.synth" in graph and "stacks.policy.gates.checkov" in graph  # the graph reads the real tree
    assert cycles(graph) == []


def test_import_graph_function_level_import_counts_as_an_edge(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from .. import a\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
