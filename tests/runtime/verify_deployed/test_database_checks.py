"""The database families (runtime, drills) as the jobs role: a healthy database passes; RLS not forced on a
SENSITIVE table, an edited audit event, and a drill older than a year each fail their check."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, JOBS_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.verify_deployed.database_runtime import DatabaseContext
from runtime.verify_deployed.result import Status
from runtime.verify_deployed.run import DATABASE_FAMILIES, run, selected
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _drill(db: PlatformDatabase, kind: str, finished: datetime, passed: bool = True) -> None:
    with db.admin() as admin:
        admin.execute("INSERT INTO platform.lifecycle_drills (id, kind, started_at, finished_at, passed, steps, "
                      "figures) VALUES (%s, %s, %s, %s, %s, '[]', '{}')",
                      (uuid.uuid4(), kind, finished - timedelta(minutes=5), finished, passed))


@pytest.fixture
def healthy_db(fresh_db: PlatformDatabase, chain_key: ChainKey) -> Iterator[PlatformDatabase]:
    """A database of its own: two chained audit events, a breach and a restore drill passed this year."""
    pool = open_pool(fresh_db.settings(APP_ROLE, pool_max_size=2), fresh_db.password(APP_ROLE), name="verify")
    try:
        cipher = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"),
                                store=PostgresWrappedKeyStore(pool))
        principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-1")
        with Database(pool, AuditLedger(chain_key)).owner_transaction(principal) as tx:
            Records(cipher).insert(tx, "organisations", [{"name": b"Org"}])
    finally:
        pool.close()
    _drill(fresh_db, "breach", NOW - timedelta(days=30))
    _drill(fresh_db, "restore", NOW - timedelta(days=200))
    _drill(fresh_db, "restore", NOW - timedelta(days=2), passed=False)  # a failed one is no evidence
    yield fresh_db


def _results(db: PlatformDatabase, key: ChainKey | None) -> dict[str, tuple[Status, str]]:
    with db.connect(JOBS_ROLE) as conn:
        found = run(selected(DATABASE_FAMILIES), aws=None, database=DatabaseContext(conn, key, clock=lambda: NOW),
                    clock=lambda: NOW)
    return {r.check: (r.status, r.detail) for r in found}


def test_healthy_database_every_check_passes(healthy_db: PlatformDatabase, chain_key: ChainKey) -> None:
    results = _results(healthy_db, chain_key)
    assert {k: s for k, (s, _) in results.items()} == {c.id: Status.PASS for c in selected(DATABASE_FAMILIES)}
    assert "as database role platform_jobs" in results["runtime.rls-self-check"][1]
    assert "audit chain OK: 1 events" in results["runtime.audit-chain"][1]
    assert "200 day(s) ago" in results["drills.restore-drill"][1]


def _tamper(db: PlatformDatabase, statement: str) -> None:
    with db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")  # the append-only triggers off
        admin.execute(statement.encode())


@pytest.mark.parametrize(("check", "statement"), [
    ("runtime.rls-self-check", "ALTER TABLE platform.prompts NO FORCE ROW LEVEL SECURITY"),
    ("runtime.audit-chain", "UPDATE platform.audit_events SET at = at - interval '1 day' WHERE id = 1"),
    ("drills.breach-drill", "UPDATE platform.lifecycle_drills SET finished_at = finished_at - interval '400 days' "
                            "WHERE kind = 'breach'"),
    ("drills.restore-drill", "DELETE FROM platform.lifecycle_drills WHERE kind = 'restore' AND passed"),
])
def test_mutation_makes_its_database_check_fail(healthy_db: PlatformDatabase, chain_key: ChainKey, check: str,
                                                statement: str) -> None:
    _tamper(healthy_db, statement)
    results = _results(healthy_db, chain_key)
    assert {k for k, (s, _) in results.items() if s is Status.FAIL} == {check}, results


def test_no_chain_key_audit_chain_could_not_check(healthy_db: PlatformDatabase) -> None:
    assert _results(healthy_db, None)["runtime.audit-chain"][0] is Status.NOT_CHECKED
