"""The runtime imports without cycles, between its modules and between its sub-packages (read from the source with
`ast`: an import inside a function or under TYPE_CHECKING counts as well).

At the package level each module is collapsed to `runtime.<package>` (`runtime.db.session` -> `runtime.db`;
top-level modules such as `runtime.errors` stay themselves), so a pure package (runtime.audit) that reaches into an
adapter package (runtime.db) which imports it back is a cycle even when no two modules form one.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import collapsed, cycles, import_graph

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "runtime"


def test_import_cycles_runtime_modules_have_none() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert "runtime.service.auth" in graph and "runtime.db.ledger" in graph  # the graph reads the real tree
    assert cycles(graph) == []


def test_import_cycles_runtime_packages_have_none() -> None:
    packages = collapsed(import_graph(ROOT, PACKAGE), depth=2)
    assert {"runtime.audit", "runtime.db", "runtime.service", "runtime.wiring"} <= packages.keys()
    assert cycles(packages) == []


def test_import_cycles_audit_logic_depends_on_no_adapter_package() -> None:
    packages = collapsed(import_graph(ROOT, PACKAGE), depth=2)
    assert not packages["runtime.audit"] & {"runtime.db", "runtime.wiring", "runtime.service"}


def test_import_cycles_package_cycle_found_without_a_module_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    for sub in ("a", "b"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a" / "one.py").write_text("from pkg.b import two\n")
    (package / "b" / "two.py").write_text("x = 1\n")
    (package / "b" / "three.py").write_text("def f():\n    from pkg.a import four\n")
    (package / "a" / "four.py").write_text("y = 2\n")
    graph = import_graph(tmp_path, "pkg")
    assert cycles(graph) == []
    assert cycles(collapsed(graph, depth=2)) == [["pkg.a", "pkg.b"]]
