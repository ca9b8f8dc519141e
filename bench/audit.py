"""The audit trail (P14): how fast the sequencer chains queued events and `audit verify` checks them.

Set-up: a throwaway TLS PostgreSQL (bench/postgres.py); EVENTS access events queued by one INSERT (the request
path's rows: ids, one organisation of 1,000, a row id, a request id), then chained by the sequencer
(runtime/db/sequencer.py) in batches of BATCH with a signed checkpoint every EVERY positions (a local P-256 key).

Figures (medians of ROUNDS; the baselines in the same run):
    audit_sequencer_events_per_s        events the sequencer chains per second (one process, its own role)
    audit_verify_events_per_s           `audit verify` over the whole chain with WORKERS worker processes: the
                                        signed checkpoints (signatures, cadence, head) and every link, from
                                        nothing but the public key (target >= 300,000 on 2 cores)
    audit_verify_one_process_events_per_s   the same in one process: the parallel speed-up's baseline
    audit_copy_fetch_events_per_s       the COPY of the segments alone, nothing hashed: what the database can send
    audit_hash_events_per_s             the link checks alone, on lines already fetched: what Python can hash
"""

import os
import statistics
import sys
import time
from typing import Final

from bench.postgres import bench_database
from runtime.audit.chain import GENESIS
from runtime.audit.published import Cadence
from runtime.audit.segments import Claim, Segment, check_segment
from runtime.db.audit_verify import Trust, verify_audit_trail
from runtime.db.ledger import copy_rows
from runtime.db.schema import SEQUENCER_ROLE, SUPPORT_ROLE
from runtime.db.sequencer import Sequencer, SequencerConfig
from runtime.signing import LocalReceiptSigner
from tests.support.audit_trail import connector
from tests.support.platform_db import PlatformDatabase

EVENTS: Final = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
EVERY: Final = 10_000
BATCH: Final = 20_000
WORKERS: Final = 2
ROUNDS: Final = 3
_QUEUE = """
INSERT INTO platform.audit_events (event, actor_id, owner_id, fields)
SELECT 'data.accessed', gen_random_uuid(), o.id,
       jsonb_build_object('action', 'write', 'table', 'model_calls', 'row_count', 1,
                          'row_ids', jsonb_build_array(gen_random_uuid()), 'request_id', 'req-bench-' || n)
FROM generate_series(1, %s) AS n
JOIN (SELECT row_number() OVER () AS k, gen_random_uuid() AS id FROM generate_series(1, 1000)) o ON o.k = n %% 1000 + 1
"""


def _sequence(db: PlatformDatabase, signer: LocalReceiptSigner) -> float:
    with db.admin(autocommit=True) as admin:
        admin.execute(_QUEUE, (EVENTS,))
        admin.execute("VACUUM ANALYZE platform.audit_events")
    sequencer = Sequencer(SequencerConfig("bench", every=EVERY, seconds=3600, batch=BATCH), signer, None)
    started = time.perf_counter()
    with db.connect(SEQUENCER_ROLE, autocommit=True) as conn:
        while sequencer.step(conn):
            pass
        sequencer.checkpoint_if_due(conn, force=True)
    elapsed = time.perf_counter() - started
    with db.admin(autocommit=True) as admin:
        admin.execute("VACUUM ANALYZE platform.audit_events")
    return EVENTS / elapsed


def _verify_rate(db: PlatformDatabase, trust: Trust, workers: int) -> float:
    started = time.perf_counter()
    report = verify_audit_trail(connector(db, SUPPORT_ROLE), trust, workers=workers)
    elapsed = time.perf_counter() - started
    if not report.ok or report.checked != EVENTS:
        raise RuntimeError(f"the benchmark's chain did not verify: {report.describe()}")
    return EVENTS / elapsed


def _fetch_and_hash(db: PlatformDatabase) -> tuple[float, float]:
    with db.connect(SUPPORT_ROLE) as conn:
        started = time.perf_counter()
        lines = list(copy_rows(conn, 1, EVENTS))
        fetched = time.perf_counter() - started
        head = conn.execute("SELECT hash FROM support.audit_chain_head").fetchone()
    assert head is not None
    segment = Segment(1, EVENTS, GENESIS, (Claim(EVENTS, bytes(head[0]), is_checkpoint=False),))
    started = time.perf_counter()
    if check_segment(segment, lines).problem is not None:
        raise RuntimeError("the benchmark's lines did not verify")
    return EVENTS / fetched, EVENTS / (time.perf_counter() - started)


def audit_figures() -> dict[str, str]:
    started = time.perf_counter()
    signer = LocalReceiptSigner.generate()
    with bench_database() as db:
        sequenced = _sequence(db, signer)
        trust = Trust(signer.public_key().key, "bench", None, Cadence(EVERY, 3600))
        parallel, single, fetch, hashed = [], [], [], []
        for _ in range(ROUNDS):  # interleaved, so machine noise spreads over all four
            parallel.append(_verify_rate(db, trust, WORKERS))
            single.append(_verify_rate(db, trust, 1))
            fetch_rate, hash_rate = _fetch_and_hash(db)
            fetch.append(fetch_rate)
            hashed.append(hash_rate)
    print(f"# audit benchmark: {EVENTS} events, {time.perf_counter() - started:.0f} s in all; load "
          f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    return {
        "audit_sequencer_events_per_s": f"{sequenced:.0f}",
        "audit_verify_events_per_s": f"{statistics.median(parallel):.0f}",
        "audit_verify_one_process_events_per_s": f"{statistics.median(single):.0f}",
        "audit_copy_fetch_events_per_s": f"{statistics.median(fetch):.0f}",
        "audit_hash_events_per_s": f"{statistics.median(hashed):.0f}",
    }


if __name__ == "__main__":
    for name, value in audit_figures().items():
        print(f"{name}: {value}", flush=True)
