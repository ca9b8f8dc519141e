"""`rls_overhead_pct`: what row-level security costs an owner-scoped query (P3).

Data: 1,000,000 prompts over 1,000 owners (1,000 each), loaded by the superuser. The query is the
owner's newest 100 rows (id, created_at, body), in a transaction of its own, for an owner picked at
random each time.

- rls:      platform_app through `Database.owner_transaction` (BEGIN + owner binding in one round
            trip, query, COMMIT); the query has NO owner filter: the RLS policy supplies it.
- baseline: platform_owner (the tables' owner, given BYPASSRLS in this throwaway cluster so RLS
            does not apply to it): BEGIN, the same query WITH `WHERE owner_id = %s`, COMMIT.

Two figures from the same runs:
- rls_overhead_pct: the QUERY's latency (execute + fetch, timed around the statement alone), RLS
  vs explicit filter. This is the cost of the policy itself.
- rls_transaction_overhead_pct: the whole transaction's latency, which adds the owner binding
  (one `SELECT set_config(...)` riding with BEGIN) to the RLS side. It is paid once per transaction,
  however many statements the transaction runs.
Each repetition times 2,000 transactions of each side back to back, on the same random owners,
the side going first alternating between repetitions (whichever reads an owner's pages second
finds them in the CPU caches); a figure is (median over repetitions of rls / baseline - 1) * 100.
Pairing the two within a repetition keeps machine noise (2 cores shared with the server) out of
the ratio.
"""

import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from runtime.db import Database, OwnerScope
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, OWNER_ROLE
from tests.support.platform_db import PlatformDatabase

OWNERS = 1_000
ROWS_PER_OWNER = 1_000
QUERIES = 2_000
REPEATS = 10
LIMIT = 100

_QUERY_RLS = "SELECT id, created_at, body FROM platform.prompts ORDER BY created_at DESC LIMIT 100"
_QUERY_FILTERED = (
    "SELECT id, created_at, body FROM platform.prompts WHERE owner_id = %s ORDER BY created_at DESC LIMIT 100"
)


class _OneConnection:
    """A ConnectionSource lending the same connection every time: measures queries, not a pool."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        yield self._conn


def load(db: PlatformDatabase) -> list[uuid.UUID]:
    """1,000 organisations with 1,000 prompts each (97-byte envelope-shaped bodies), then ANALYZE."""
    with db.admin(autocommit=True) as admin:
        admin.execute(
            "INSERT INTO platform.organisations (id, name) "
            "SELECT gen_random_uuid(), '\\x01'::bytea || decode(repeat('ab', 96), 'hex') FROM generate_series(1, %s)",
            (OWNERS,),
        )
        admin.execute(
            """
            INSERT INTO platform.prompts (owner_id, id, created_at, body)
            SELECT o.id, gen_random_uuid(), now() - g * interval '1 second',
                   '\\x01'::bytea || decode(repeat(md5(o.id::text || g), 6), 'hex')
            FROM platform.organisations o CROSS JOIN generate_series(1, %s) g
            """,
            (ROWS_PER_OWNER,),
        )
        admin.execute("VACUUM ANALYZE platform.prompts")
        admin.execute("ALTER ROLE platform_owner BYPASSRLS")  # "as the table owner", RLS not applied
        return [row[0] for row in admin.execute("SELECT id FROM platform.organisations").fetchall()]


def measure(db: PlatformDatabase, owners: list[uuid.UUID]) -> dict[str, float]:
    app = db.connect(APP_ROLE, autocommit=True)  # as open_pool configures its connections
    table_owner = db.connect(OWNER_ROLE, autocommit=True)
    database = Database(_OneConnection(app), AuditLedger())
    actor = uuid.uuid4()
    clock = time.perf_counter

    def rls(owner: uuid.UUID) -> float:
        with database.owner_transaction(OwnerScope(owner, actor, "bench")) as tx:
            started = clock()
            rows = tx.connection.execute(_QUERY_RLS).fetchall()
            took = clock() - started
        assert len(rows) == LIMIT
        return took

    def baseline(owner: uuid.UUID) -> float:
        table_owner.execute("BEGIN")
        started = clock()
        rows = table_owner.execute(_QUERY_FILTERED, (owner,)).fetchall()
        took = clock() - started
        table_owner.execute("COMMIT")
        assert len(rows) == LIMIT
        return took

    workloads: dict[str, Callable[[uuid.UUID], float]] = {"rls": rls, "baseline": baseline}
    rng = random.Random(4)
    for fn in workloads.values():  # warm-up: caches, prepared statements
        for owner in rng.sample(owners, 200):
            fn(owner)
    query_us: dict[str, list[float]] = {name: [] for name in workloads}
    transaction_us: dict[str, list[float]] = {name: [] for name in workloads}
    for repetition in range(REPEATS):
        picks = [rng.choice(owners) for _ in range(QUERIES)]
        # Alternate who goes first: the second side would otherwise find the same owners' pages in CPU caches.
        order = list(workloads.items()) if repetition % 2 == 0 else list(reversed(workloads.items()))
        for name, fn in order:
            started = clock()
            in_query = sum(fn(owner) for owner in picks)
            transaction_us[name].append((clock() - started) / QUERIES * 1e6)
            query_us[name].append(in_query / QUERIES * 1e6)
    app.close()
    table_owner.close()

    def overhead_pct(samples: dict[str, list[float]]) -> float:
        ratios = [r / b for r, b in zip(samples["rls"], samples["baseline"], strict=True)]
        return (statistics.median(ratios) - 1) * 100

    return {
        "rls_overhead_pct": overhead_pct(query_us),
        "rls_query_us": statistics.median(query_us["rls"]),
        "owner_filter_query_us": statistics.median(query_us["baseline"]),
        "rls_transaction_overhead_pct": overhead_pct(transaction_us),
        "rls_transaction_us": statistics.median(transaction_us["rls"]),
        "owner_filter_transaction_us": statistics.median(transaction_us["baseline"]),
    }
