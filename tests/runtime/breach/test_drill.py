"""`breach drill` (P12): the whole procedure on a synthetic incident in a scratch database, timed per step,
checked against the staged truth, recorded, and cleaned up, also when a step fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from runtime.breach.drill import DrillSize, run_breach_drill
from runtime.breach.scratch import PostgresScratchDatabases, ScratchDatabase
from runtime.db import open_pool
from runtime.db.schema import JOBS_ROLE
from runtime.drill import FileDrillLog
from runtime.drill.postgres import PostgresDrillLog
from runtime.errors import ConfigurationError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres


@pytest.fixture
def scratch_databases(platform_db: PlatformDatabase) -> PostgresScratchDatabases:
    cluster, passwords = platform_db.cluster, platform_db.passwords

    def on(dbname: str) -> PlatformDatabase:
        return PlatformDatabase(cluster, dbname, passwords)

    return PostgresScratchDatabases(
        admin=lambda dbname: on(dbname).admin(),
        maintenance_db="postgres",
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
    assert [s.name for s in record.steps] == ["provision", "seed", "attack", "declare", "deliver", "redeliver",
                                              "status", "check", "cleanup"]
    assert record.figures["impacted_organisations"] == 5 and record.figures["impacted_users"] == 15
    assert record.figures["notified"] == 15 and record.figures["retried"] == 1
    assert record.figures["resent_on_rerun"] == 0 and record.figures["problems"] == []
    assert set(record.figures["declare_steps"]) == {"record", "verify_chain", "impact", "users", "outbox"}
    assert scratch_databases.leftovers() == []
    assert log.last_passed("breach") == record.finished_at
    with jobs_pool.connection() as conn:
        row = conn.execute("SELECT passed, steps FROM support.lifecycle_drills WHERE id = %s",
                           (record.id,)).fetchone()
    assert row is not None and row[0] is True and len(row[1]) == 9


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
