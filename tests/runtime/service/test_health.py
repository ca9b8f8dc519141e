"""/healthz and /readyz: the process, and the database over TLS with a passing self-check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.db.migrate import SchemaVersion, applied_version, load_migrations, newest_version
from runtime.db.schema import APP_ROLE
from runtime.db.self_check import ServiceMode
from runtime.service.context import ServiceContext
from runtime.service.health import Readiness
from tests.support.platform_db import PlatformDatabase, create_database


def test_health_probes_answer_without_credentials(client: TestClient) -> None:
    healthz = client.get("/healthz")
    assert healthz.json() == {"status": "ok"} and healthz.headers["content-type"] == "application/json"
    assert client.get("/readyz").json() == {"status": "ready"}
    documented = client.get("/openapi.json").json()["paths"]["/healthz"]["get"]["responses"]["200"]
    assert documented["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Status"}


class _Connections:
    """One real connection, counting the statements run on it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[str] = []

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


# --- readiness knows the schema: a task whose schema is behind what its code needs is not ready -----------


def _newest() -> int:
    return newest_version(load_migrations())


def test_health_not_ready_when_the_schema_is_behind_the_code(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(APP_ROLE, autocommit=True) as conn:
        result = Readiness(_Connections(conn), ServiceMode.OWNER, required_version=_newest() + 1).check()
    assert not result.ready
    assert f"behind version {_newest() + 1}" in result.reason and "db setup" in result.reason


def test_health_ready_when_the_schema_is_ahead_of_the_code(platform_db: PlatformDatabase) -> None:
    """Old tasks keep serving while a newer deploy's migrations have run (forward-only, expand first)."""
    with platform_db.connect(APP_ROLE, autocommit=True) as conn:
        assert Readiness(_Connections(conn), ServiceMode.OWNER, required_version=_newest() - 1).check().ready


def test_health_default_required_version_is_the_newest_migration(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(APP_ROLE, autocommit=True) as conn:
        assert Readiness(_Connections(conn), ServiceMode.OWNER).check().ready


def test_health_not_ready_on_a_database_never_migrated(platform_db: PlatformDatabase) -> None:
    name = f"h_{uuid.uuid4().hex[:12]}"
    create_database(platform_db.cluster, name)  # a new database: PUBLIC may connect, nothing else exists
    empty = PlatformDatabase(platform_db.cluster, name, platform_db.passwords)
    with empty.connect(APP_ROLE, autocommit=True) as conn:
        result = Readiness(_Connections(conn), ServiceMode.OWNER).check()
    assert not result.ready and "at version 0" in result.reason


@pytest.mark.parametrize("role", ["platform_app", "platform_support", "platform_jobs"])
def test_health_every_service_role_reads_the_applied_version(platform_db: PlatformDatabase, role: str) -> None:
    with platform_db.connect(role, autocommit=True) as conn:
        assert applied_version(conn) == _newest()


def test_health_schema_version_behind_and_ahead_are_exclusive() -> None:
    assert SchemaVersion(applied=7, required=8).behind and not SchemaVersion(applied=7, required=8).ahead
    assert SchemaVersion(applied=9, required=8).ahead and not SchemaVersion(applied=9, required=8).behind
    current = SchemaVersion(applied=8, required=8)
    assert not current.behind and not current.ahead and "as this code needs" in current.describe()
