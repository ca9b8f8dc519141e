"""/healthz and /readyz: the process, and the database over TLS with a passing self-check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.db.schema import APP_ROLE
from runtime.db.self_check import ServiceMode
from runtime.service.context import ServiceContext
from runtime.service.health import Readiness
from tests.support.platform_db import PlatformDatabase


def test_health_probes_answer_without_credentials(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


class _Connections:
    """One real connection, counting the statements run on it."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.statements = conn, []

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        outer = self

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(outer.conn, name)

            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                outer.statements.append(str(query))
                return outer.conn.execute(query, *args, **kwargs)

        yield Counting()


def test_health_self_check_runs_again_only_after_the_recheck_period(platform_db: PlatformDatabase) -> None:
    now = [0.0]
    with platform_db.connect(APP_ROLE, autocommit=True) as conn:
        connections = _Connections(conn)
        readiness = Readiness(connections, ServiceMode.OWNER, recheck_seconds=60, clock=lambda: now[0])
        assert readiness.check().ready
        after_first = len(connections.statements)
        assert after_first > 1  # the self-check's queries
        now[0] = 30.0
        assert readiness.check().ready
        assert connections.statements[after_first:] == ["SELECT 1"]
        now[0] = 61.0
        assert readiness.check().ready
        assert len(connections.statements) > after_first + 2


def test_health_not_ready_when_the_database_is_gone(owner_context: ServiceContext, platform_db: PlatformDatabase,
                                                    client: TestClient) -> None:
    pool = platform_db.settings(APP_ROLE)
    from runtime.db import open_pool

    broken = open_pool(pool, platform_db.password(APP_ROLE), name="closed")
    broken.close()
    result = Readiness(broken, ServiceMode.OWNER).check()
    assert not result.ready and result.reason


def test_health_not_ready_when_the_self_check_fails(platform_db: PlatformDatabase) -> None:
    with platform_db.admin(autocommit=True) as superuser:  # the superuser ignores RLS: never ready
        result = Readiness(_Connections(superuser), ServiceMode.OWNER).check()
    assert not result.ready and "superuser" in result.reason


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_are_documented_without_security(client: TestClient, path: str) -> None:
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    assert "security" not in operation
