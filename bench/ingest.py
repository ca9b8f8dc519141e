"""`ingest_per_s` and `ingest_vs_copy`: SENSITIVE records written the runtime's way, against plain COPY.

Runtime path, `runtime.db.bulk.ingest` on ONE connection (platform_app): for each batch of 1,000
records of one owner, `Records.seal` (AES-256-GCM envelope encryption of the 1 KiB payload under the
owner's cached data key), then `Database.owner_transaction` (BEGIN + owner binding), one INSERT ...
SELECT FROM unnest(...) under RLS with FORCE'd WITH CHECK, the envelope domain check, the foreign
key to the owner and the erasure fence (a statement trigger, P10), the audit ledger append (chain
head lock, one event listing the batch's 1,000 row ids, HMAC link), COMMIT. bulk.ingest seals
batch k+1 in a helper thread while batch k is stored.

Baseline, same run, interleaved: binary COPY of the same 1 KiB payloads, UNENCRYPTED, with
pre-generated ids, into a plain table of the same shape and indexes (no RLS, no foreign key, no
domain), by its owner, one COPY and one commit per batch of 1,000.

ingest_vs_copy = ingest_per_s / copy_per_s. Medians over interleaved repetitions; the tables are
emptied before each repetition so both sides write into tables of the same size.
"""

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, bulk
from runtime.db.bulk import Batch
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, OWNER_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from tests.support.platform_db import PlatformDatabase

PAYLOAD_BYTES = 1024
BATCH = 1_000
BATCHES = 20  # 20,000 records per repetition and side
OWNERS = 10
REPEATS = 5

_PLAIN_TABLE = """
CREATE TABLE bench_plain_prompts (
    owner_id uuid NOT NULL,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    name bytea,
    body bytea NOT NULL,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX bench_plain_prompts_owner_created ON bench_plain_prompts (owner_id, created_at);
"""


class _OneConnection:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        yield self._conn


def _timed(fn: Callable[[], None], records: int) -> float:
    start = time.perf_counter()
    fn()
    return records / (time.perf_counter() - start)


def measure(db: PlatformDatabase) -> dict[str, float]:
    owners = [uuid.uuid4() for _ in range(OWNERS)]
    payloads = [os.urandom(PAYLOAD_BYTES) for _ in range(BATCH)]
    with db.admin(autocommit=True) as admin:
        admin.execute(_PLAIN_TABLE.encode())
        admin.execute("ALTER TABLE bench_plain_prompts OWNER TO platform_owner")

    app = db.connect(APP_ROLE, autocommit=True)  # as open_pool configures its connections
    key_connection = db.connect(APP_ROLE)  # the key store's own connection: used on cache misses only
    cipher = EnvelopeCipher(
        keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="bench"),
        store=PostgresWrappedKeyStore(_OneConnection(key_connection)),
    )
    database = Database(_OneConnection(app), AuditLedger())
    records = Records(cipher)
    actor = uuid.uuid4()
    rows = [{"body": p} for p in payloads]
    with database.owner_transaction(OwnerScope(owners[0], actor, "bench")) as tx:
        pass
    for owner in owners:  # organisations (the foreign key's target) and the owners' data keys
        with database.owner_transaction(OwnerScope(owner, actor, "bench-setup")) as tx:
            records.insert(tx, "organisations", [{"name": b"bench organisation"}])

    def ingest() -> None:
        batches = (Batch(OwnerScope(owners[i % OWNERS], actor, "bench"), "prompts", rows) for i in range(BATCHES))
        assert len(bulk.ingest(database, records, batches)) == BATCH * BATCHES

    copier = db.connect(OWNER_ROLE)
    copy_ids = [[uuid.uuid4() for _ in range(BATCH)] for _ in range(BATCHES)]

    def copy() -> None:
        for i, ids in enumerate(copy_ids):
            owner = owners[i % OWNERS]
            with (
                copier.transaction(),
                copier.cursor() as cur,
                cur.copy("COPY bench_plain_prompts (owner_id, id, body) FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.set_types(["uuid", "uuid", "bytea"])
                for row_id, payload in zip(ids, payloads, strict=True):
                    cp.write_row((owner, row_id, payload))

    def empty_tables() -> None:
        with db.admin(autocommit=True) as admin:
            admin.execute("TRUNCATE platform.prompts, bench_plain_prompts CASCADE")
            admin.execute("CHECKPOINT")

    total = BATCH * BATCHES
    ingest()  # warm-up
    copy()
    samples: dict[str, list[float]] = {"ingest": [], "copy": []}
    for _ in range(REPEATS):
        empty_tables()
        samples["ingest"].append(_timed(ingest, total))
        samples["copy"].append(_timed(copy, total))
    for conn in (app, key_connection, copier):
        conn.close()
    ingest_rate, copy_rate = statistics.median(samples["ingest"]), statistics.median(samples["copy"])
    return {"ingest_per_s": ingest_rate, "ingest_vs_copy": ingest_rate / copy_rate, "copy_per_s": copy_rate}
