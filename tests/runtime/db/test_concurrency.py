"""Eight writers for eight owners at once: nothing lost, nothing leaked, the audit chain intact (P3, P14)."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, Records
from runtime.db.ledger import verify_ledger
from runtime.db.schema import SUPPORT_ROLE
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

WRITERS = 8
TRANSACTIONS = 12
ROWS = 10


def test_concurrent_writers_eight_owners_lose_nothing_and_leak_nothing(
    make_owner: Callable[[], OwnerScope], database: Database, records: Records, platform_db: PlatformDatabase,
    chain_key: ChainKey,
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
    with platform_db.connect(SUPPORT_ROLE) as conn:
        report = verify_ledger(conn, chain_key)
    assert report.ok, report.describe()
