"""`breach drill` (P12): the whole procedure on a synthetic incident in a scratch database, timed per step,
checked against the staged truth, recorded, and cleaned up, also when a step fails. Everything runs as the drill
role (platform_drill: CREATEDB only) and the jobs role: never as a superuser or the master user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from runtime.breach.drill import DrillSize, run_breach_drill
from runtime.breach.scratch import PostgresScratchDatabases, ScratchDatabase
from runtime.db import open_pool
from runtime.db.errors import translated
from runtime.db.schema import DATABASE_REGISTRY, DRILL_ROLE, JOBS_ROLE, SCHEMA, SUPPORT_SCHEMA
from runtime.drill import FileDrillLog
from runtime.drill.postgres import PostgresDrillLog
from runtime.errors import ConfigurationError, PermissionDeniedError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres


@pytest.fixture
def scratch_databases(platform_db: PlatformDatabase) -> PostgresScratchDatabases:
    cluster, passwords = platform_db.cluster, platform_db.passwords

    def on(dbname: str) -> PlatformDatabase:
        return PlatformDatabase(cluster, dbname, passwords)

    return PostgresScratchDatabases(
        creator=lambda dbname: on(dbname).connect(DRILL_ROLE),
        maintenance_db=platform_db.dbname,
        settings_for=lambda dbname, role: on(dbname).settings(role),
        passwords_for=lambda role: platform_db.password(role),
    )


@pytest.fixture
def jobs_pool(platform_db: PlatformDatabase) -> Iterator[ConnectionPool]:
    pool = open_pool(platform_db.settings(JOBS_ROLE, pool_max_size=2), platform_db.password(JOBS_ROLE),
                     name="drill-log")
    yield pool
    pool.close()


def test_breach_drill_passes_records_each_step_and_cleans_up(
    scratch_databases: PostgresScratchDatabases, jobs_pool: ConnectionPool
) -> None:
    log = PostgresDrillLog(jobs_pool)
    record = run_breach_drill(scratch_databases, log=log, size=DrillSize(organisations=12, attacked=5), seed=3)

    assert record.passed, record.describe()
    assert [s.name for s in record.steps] == ["provision", "seed", "attack", "sequence", "declare", "deliver",
                                              "redeliver", "status", "check", "cleanup"]
    assert record.figures["impacted_organisations"] == 5 and record.figures["impacted_users"] == 15
    assert record.figures["notified"] == 15 and record.figures["retried"] == 1
    assert record.figures["resent_on_rerun"] == 0 and record.figures["problems"] == []
    assert set(record.figures["declare_steps"]) == {"record", "verify_chain", "impact", "users", "outbox"}
    assert scratch_databases.leftovers() == []
    assert log.last_passed("breach") == record.finished_at
    with jobs_pool.connection() as conn:
        row = conn.execute("SELECT passed, steps FROM support.lifecycle_drills WHERE id = %s",
                           (record.id,)).fetchone()
    assert row is not None and row[0] is True and len(row[1]) == 10


def test_breach_drill_that_fails_is_recorded_as_failed_and_still_cleans_up(
    scratch_databases: PostgresScratchDatabases, tmp_path: Path
) -> None:
    record = run_breach_drill(scratch_databases, log=FileDrillLog(tmp_path), files_dir=tmp_path / "missing",
                              size=DrillSize(organisations=3, attacked=1))
    assert not record.passed and record.failure == "drill:NotifierConfigurationError"
    assert record.steps[-1].name == "cleanup" and record.steps[-1].ok
    assert scratch_databases.leftovers() == []
    [written] = tmp_path.glob("breach-drill-*.json")
    assert '"passed": false' in written.read_text()


def test_scratch_databases_refuse_to_drop_anything_else(scratch_databases: PostgresScratchDatabases) -> None:
    with pytest.raises(ConfigurationError, match="refusing to drop 'platform'"):
        scratch_databases.drop(ScratchDatabase("platform", lambda d, r: None, lambda r: None))  # type: ignore[arg-type, return-value]


def test_breach_drill_scratch_database_owned_by_the_drill_role_and_closed_to_public(
    scratch_databases: PostgresScratchDatabases, platform_db: PlatformDatabase
) -> None:
    scratch = scratch_databases.create()
    try:
        with platform_db.admin() as admin:
            owner, public_connect = admin.execute(
                "SELECT pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT') "
                "FROM pg_database WHERE datname = %s", (scratch.name,)).fetchone() or (None, None)
        assert owner == DRILL_ROLE and public_connect is False
        with scratch.connect(JOBS_ROLE) as jobs:  # the procedure's role may work in it
            assert jobs.execute("SELECT count(*) FROM support.audit_chain_head").fetchone() == (1,)
    finally:
        scratch_databases.drop(scratch)
    assert scratch_databases.leftovers() == []


def test_drill_role_createdb_only_and_a_member_of_nothing(platform_db: PlatformDatabase) -> None:
    with platform_db.admin() as admin:
        row = admin.execute(
            "SELECT rolcreatedb, rolsuper, rolbypassrls, rolcreaterole, rolreplication, "
            "ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
            "      WHERE m.member = r.oid AND b.rolname <> 'rds_iam') "
            "FROM pg_roles r WHERE rolname = %s", (DRILL_ROLE,)).fetchone()
    assert row == (True, False, False, False, False, [])


@pytest.mark.parametrize("table", sorted(t.name for t in DATABASE_REGISTRY))
def test_drill_role_cannot_read_a_platform_table(platform_db: PlatformDatabase, table: str) -> None:
    with platform_db.connect(DRILL_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(SCHEMA, table)))


def test_drill_role_cannot_read_the_support_views(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(DRILL_ROLE) as conn:
        views = [r[0] for r in conn.execute(
            "SELECT viewname FROM pg_views WHERE schemaname = %s ORDER BY 1", (SUPPORT_SCHEMA,)).fetchall()]
        assert views  # the catalog is readable; the views are not
        for view in views:
            with pytest.raises(PermissionDeniedError), translated(), conn.transaction():
                conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(SUPPORT_SCHEMA, view)))
