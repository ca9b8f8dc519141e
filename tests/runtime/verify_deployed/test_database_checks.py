from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from runtime.db.schema import JOBS_ROLE
from runtime.verify_deployed.database_runtime import DatabaseContext
from runtime.verify_deployed.result import Status
from runtime.verify_deployed.run import DATABASE_FAMILIES, run, selected
from tests.support.audit_trail import Ledger, aws_env, make_ledger
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres
__all__ = ["aws_env"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _drill(db: PlatformDatabase, kind: str, finished: datetime, passed: bool = True) -> None:
    with db.admin() as admin:
        admin.execute("INSERT INTO platform.lifecycle_drills (id, kind, started_at, finished_at, passed, steps, "
                      "figures) VALUES (%s, %s, %s, %s, %s, '[]', '{}')",
                      (uuid.uuid4(), kind, finished - timedelta(minutes=5), finished, passed))


@pytest.fixture
def healthy_db(fresh_db: PlatformDatabase, aws_env: None) -> Iterator[Ledger]:
    """A database of its own: a sequenced audit trail with signed checkpoints in a moto Object Lock bucket, a
    breach and a restore drill passed this year (and a failed restore drill, which is no evidence)."""
    for ledger in make_ledger(fresh_db, every=2):
        ledger.write(2)
        ledger.sequence()
        _drill(fresh_db, "breach", NOW - timedelta(days=30))
        _drill(fresh_db, "restore", NOW - timedelta(days=200))
        _drill(fresh_db, "restore", NOW - timedelta(days=2), passed=False)
        yield ledger


def _results(ledger: Ledger, wired: bool = True) -> dict[str, tuple[Status, str]]:
    with ledger.db.connect(JOBS_ROLE) as conn:
        context = DatabaseContext(conn, ledger.verify if wired else None, clock=lambda: NOW)
        found = run(selected(DATABASE_FAMILIES), aws=None, database=context, clock=lambda: NOW)
    return {r.check: (r.status, r.detail) for r in found}


def test_healthy_database_every_check_passes(healthy_db: Ledger) -> None:
    results = _results(healthy_db)
    assert {k: s for k, (s, _) in results.items()} == {c.id: Status.PASS for c in selected(DATABASE_FAMILIES)}
    assert "as database role platform_jobs" in results["runtime.rls-self-check"][1]
    assert "audit chain OK: 3 events" in results["runtime.audit-chain"][1]
    assert "200 day(s) ago" in results["drills.restore-drill"][1]


def _tamper(db: PlatformDatabase, statement: str) -> None:
    with db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")  # the append-only triggers off
        admin.execute(statement.encode())


@pytest.mark.parametrize(("check", "statement"), [
    ("runtime.rls-self-check", "ALTER TABLE platform.prompts NO FORCE ROW LEVEL SECURITY"),
    ("runtime.audit-chain", "UPDATE platform.audit_events SET at = at - interval '1 day' WHERE seq = 2"),
    ("drills.breach-drill", "UPDATE platform.lifecycle_drills SET finished_at = finished_at - interval '400 days' "
                            "WHERE kind = 'breach'"),
    ("drills.restore-drill", "DELETE FROM platform.lifecycle_drills WHERE kind = 'restore' AND passed"),
])
def test_mutation_makes_its_database_check_fail(healthy_db: Ledger, check: str, statement: str) -> None:
    _tamper(healthy_db.db, statement)
    results = _results(healthy_db)
    assert {k for k, (s, _) in results.items() if s is Status.FAIL} == {check}, results


def test_no_audit_trail_settings_could_not_check(healthy_db: Ledger) -> None:
    assert _results(healthy_db, wired=False)["runtime.audit-chain"][0] is Status.NOT_CHECKED
