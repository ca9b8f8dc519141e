"""Eight writers for eight owners at once: nothing lost, nothing leaked, the audit chain intact (P3, P14)."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime.audit import AccessEvent, Action
from runtime.db import Database, OwnerScope, Records
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE
from tests.support.audit_trail import sequence_and_verify
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

WRITERS = 8
TRANSACTIONS = 12
ROWS = 10


def test_concurrent_writers_eight_owners_lose_nothing_and_leak_nothing(
    make_owner: Callable[[], OwnerScope], database: Database, records: Records, platform_db: PlatformDatabase,
) -> None:
    owners = [make_owner() for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)

    def write(principal: OwnerScope) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        """Interleave writes and reads; return (ids written, owners ever seen)."""
        start.wait()
        written: set[uuid.UUID] = set()
        owners_seen: set[uuid.UUID] = set()
        for i in range(TRANSACTIONS):
            with database.owner_transaction(principal) as tx:
                rows = [{"body": f"{principal.owner_id}:{i}:{n}".encode()} for n in range(ROWS)]
                written.update(records.insert(tx, "prompts", rows))
                for record in records.newest(tx, "prompts", limit=1000):
                    owners_seen.add(record.owner_id)
                    body = record.values["body"]
                    assert body is not None and body.reveal().startswith(str(principal.owner_id).encode())
        return written, owners_seen

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(write, owners))

    for principal, (written, owners_seen) in zip(owners, results, strict=True):
        assert len(written) == TRANSACTIONS * ROWS
        assert owners_seen == {principal.owner_id}
        with database.owner_transaction(principal) as tx:
            assert {r.id for r in records.newest(tx, "prompts", limit=1000)} == written
    with platform_db.admin() as admin:
        total = admin.execute(
            "SELECT count(*) FROM platform.prompts WHERE owner_id = ANY(%s)", ([p.owner_id for p in owners],)
        ).fetchone()
        events = admin.execute(
            "SELECT count(*) FROM platform.audit_events WHERE owner_id = ANY(%s) AND fields->>'table' = 'prompts'",
            ([p.owner_id for p in owners],),
        ).fetchone()
    assert total == (WRITERS * TRANSACTIONS * ROWS,)
    assert events == (WRITERS * (2 * TRANSACTIONS + 1),)  # a write and a read per transaction, a final read
    report = sequence_and_verify(platform_db)
    assert report.ok, report.describe()


def test_writers_of_different_organisations_never_wait_for_each_other(platform_db: PlatformDatabase) -> None:
    """Queuing audit events locks nothing shared: while one organisation's transaction is open with its events
    queued, another's queues and commits at once (the old chain-head row lock made it wait)."""
    ledger = AuditLedger()

    def event() -> AccessEvent:
        return AccessEvent(uuid.uuid4(), uuid.uuid4(), Action.READ, "prompts", (uuid.uuid4(),), "req-lock")

    with platform_db.connect(APP_ROLE) as first, platform_db.connect(APP_ROLE) as second, first.transaction():
        ledger.append(first, [event()])
        second.execute("SET lock_timeout = '500ms'")
        with second.transaction():
            ledger.append(second, [event()])  # would raise LockNotAvailable if it waited on `first`
