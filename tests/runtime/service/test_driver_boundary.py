"""The database driver stops at runtime.db: the HTTP layer imports no psycopg (read with `ast`, so an import inside
a function or under TYPE_CHECKING counts too), and a driver failure reaches it as the runtime's typed error."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from runtime.db import Database
from runtime.db.errors import translate
from runtime.errors import PoolExhaustedError
from runtime.service.app import create_app
from runtime.service.context import OwnerDataDep, OwnerScopeDep, ServiceContext
from tests.runtime.service.conftest import Org

SERVICE = Path(__file__).resolve().parents[3] / "runtime" / "service"
DRIVERS = {"psycopg", "psycopg_pool", "psycopg2"}


def _imported_roots(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_service_modules_import_no_database_driver() -> None:
    files = sorted(SERVICE.rglob("*.py"))
    assert any(f.name == "problems.py" for f in files)  # the scan reads the real tree
    importing = {f.name: sorted(_imported_roots(f) & DRIVERS) for f in files if _imported_roots(f) & DRIVERS}
    assert importing == {}


def test_driver_boundary_scan_function_level_import_counts(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from psycopg_pool import PoolTimeout\n")
    assert _imported_roots(module) & DRIVERS == {"psycopg_pool"}


def test_translate_pool_timeout_is_pool_exhausted_and_unavailable() -> None:
    error = translate(PoolTimeout("couldn't get a connection after 30.00 sec"))
    assert isinstance(error, PoolExhaustedError) and "retry" in str(error)


class _NoFreeConnection:
    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        raise PoolTimeout("couldn't get a connection after 30.00 sec")
        yield  # pragma: no cover


def test_owner_route_pool_timeout_answers_503_with_retry_after(owner_context: ServiceContext, org_a: Org) -> None:
    assert owner_context.owner is not None
    busy = dataclasses.replace(owner_context.owner,
                               database=Database(_NoFreeConnection(), owner_context.owner.database.ledger))
    extension = APIRouter(prefix="/v1/extension")

    @extension.get("/whoami")
    def whoami(principal: OwnerScopeDep, data: OwnerDataDep) -> dict[str, str]:
        with data.database.owner_transaction(principal):
            return {"owner": str(principal.owner_id)}

    context = dataclasses.replace(owner_context, owner=busy, closers=())
    with TestClient(create_app(context, routers=[extension]), raise_server_exceptions=False) as http:
        answer = http.get("/v1/extension/whoami", headers=org_a.headers)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("application/problem+json")
