"""Breach response benchmarks (P12, P14) on a throwaway TLS cluster, as `name: value` figures.

    breach_impact_s          the impact of a breach whose window covers a ledger of 10,000,000 audit events across
                             10,000 organisations (target <= 30): the in-scope events aggregated per organisation
                             and table and the touched user rows (one pass in the database, jobs role, support
                             views), then every impacted organisation's users listed owner-bound under RLS, then the
                             impacted set computed. No filter: all 10,000 organisations are impacted.
    breach_drill_s           `breach drill` end to end at its default size (scratch database created, migrated,
                             seeded, attacked, declared, delivered with a retry, checked, dropped)

Reference lines: `breach_impact_actor_s` (the same ledger, scope narrowed to one actor: the (actor_id, at)
index), `breach_outbox_s` (writing the outbox and the impacted data for the whole-ledger impact),
`breach_verify_events_per_s` (the chain verification over a window of 200,000 genuinely chained events: HMAC
per event in Python), and the time to load the ledger (not part of any figure).

The ledger is generated in SQL (positions, times 250 ms apart, 1,000 actors, 6 tables, one row id per event);
its hashes are placeholders, as the impact does not read them. The users (2 per organisation) are inserted with
placeholder ciphertext: the impact reads their ids only.

    python -m bench.breach [EVENTS [ORGANISATIONS]]        (default 10000000 10000)
"""

import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.postgres import bench_database
from runtime.audit.chain import ChainKey
from runtime.breach.drill import run_breach_drill
from runtime.breach.impact import build_impact
from runtime.breach.scope import BreachScope
from runtime.breach.scratch import PostgresScratchDatabases
from runtime.breach.store import PostgresIncidentStore
from runtime.breach.trail import PostgresTrail
from runtime.db import open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import DRILL_ROLE, JOBS_ROLE, SEQUENCER_ROLE
from runtime.db.sequencer import Sequencer, SequencerConfig
from runtime.signing import LocalReceiptSigner
from tests.support.platform_db import PlatformDatabase

EVENTS = 10_000_000
ORGANISATIONS = 10_000
USERS_PER_ORGANISATION = 2
ACTORS = 1_000
VERIFY_EVENTS = 200_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(milliseconds=250)
_CHUNK = 1_000_000
_TABLES = ["prompts", "model_calls", "datasets", "dataset_items", "evaluation_results", "users"]


def _load(db: PlatformDatabase, events: int, organisations: int) -> list[uuid.UUID]:
    orgs = [uuid.uuid4() for _ in range(organisations)]
    actors = [uuid.uuid4() for _ in range(ACTORS)]
    with db.admin(autocommit=True) as admin:  # the superuser: no RLS, no audit, for loading only
        admin.execute(
            "INSERT INTO platform.organisations (id, name) "
            "SELECT o, '\\x01'::bytea || decode(repeat('00', 96), 'hex') FROM unnest(%s::uuid[]) o", (orgs,))
        admin.execute(
            "INSERT INTO platform.users (owner_id, id, email) "
            "SELECT o, gen_random_uuid(), '\\x01'::bytea || decode(repeat('00', 96), 'hex') "
            "FROM unnest(%s::uuid[]) o, generate_series(1, %s)", (orgs, USERS_PER_ORGANISATION))
    def chunk(start: int) -> None:
        end = min(start + _CHUNK - 1, events)
        with db.admin(autocommit=True) as admin:
            admin.execute(
                """
                INSERT INTO platform.audit_events (id, seq, at, event, actor_id, owner_id, fields, prev_hash, hash)
                SELECT g, g, %(t0)s + g * %(step)s, 'data.accessed', (%(actors)s::uuid[])[1 + g %% %(n_actors)s],
                       (%(orgs)s::uuid[])[1 + (g * 7919) %% %(n_orgs)s],
                       jsonb_build_object('action', (ARRAY['read', 'write', 'read', 'read'])[1 + g %% 4],
                                          'table', (%(tables)s::text[])[1 + g %% 6], 'row_count', 1,
                                          'row_ids', jsonb_build_array(gen_random_uuid()::text),
                                          'request_id', 'req-bench'),
                       '\\x00'::bytea, '\\x00'::bytea
                FROM generate_series(%(start)s::bigint, %(end)s::bigint) g
                """,
                {"t0": T0, "step": STEP, "actors": actors, "n_actors": ACTORS, "orgs": orgs,
                 "n_orgs": organisations, "tables": _TABLES, "start": start, "end": end},
            )

    with ThreadPoolExecutor(max_workers=4) as workers:
        list(workers.map(chunk, range(1, events + 1, _CHUNK)))
    with db.admin(autocommit=True) as admin:
        admin.execute("UPDATE platform.audit_chain_head SET seq = %s", (events,))
        admin.execute("VACUUM ANALYZE platform.audit_events")
        admin.execute("VACUUM ANALYZE platform.users")
    return actors


def _impact(db: PlatformDatabase, scope: BreachScope) -> tuple[float, Any]:
    pool = open_pool(db.settings(JOBS_ROLE, pool_max_size=2), db.password(JOBS_ROLE), name="bench-breach")
    try:
        from runtime.breach.directory import PostgresUserDirectory

        directory = PostgresUserDirectory(pool, None, None)  # type: ignore[arg-type]  # ids only: no decryption
        with pool.connection() as conn:
            trail = PostgresTrail(conn)
            started = time.perf_counter()
            with trail.snapshot():
                tables = trail.tables_touched(scope)
                touched = trail.users_touched(scope)
            impact = build_impact(tables, touched, directory.users_of({t.owner_id for t in tables}), keys=scope.keys)
            return time.perf_counter() - started, impact
    finally:
        pool.close()


def _outbox(db: PlatformDatabase, impact: Any) -> float:
    pool = open_pool(db.settings(JOBS_ROLE, pool_max_size=1), db.password(JOBS_ROLE), name="bench-outbox")
    try:
        store = PostgresIncidentStore(pool)
        now = datetime.now(UTC)
        incident, _ = store.open_incident(
            incident_id=uuid.uuid4(), fingerprint=os.urandom(32), declared_at=now, due_at=now + timedelta(hours=24),
            scope={}, window=(T0, now), summary="Benchmark.", mitigations=[], contact="bench")
        started = time.perf_counter()
        store.record_assessment(incident.id, {"ok": True}, impact, now)
        return time.perf_counter() - started
    finally:
        pool.close()


def _verify_rate(db: PlatformDatabase) -> float:
    """Chain VERIFY_EVENTS real events (after the placeholder ledger) and time the window verification."""
    from runtime.audit.events import AccessEvent, Action

    key = ChainKey(os.urandom(32))
    ledger = AuditLedger()
    app = open_pool(db.settings("platform_app", pool_max_size=1), db.password("platform_app"), name="bench-chain")
    with db.admin(autocommit=True) as admin:  # a fresh ledger: the placeholder one has no valid links
        admin.execute("SET session_replication_role = replica")
        admin.execute("DELETE FROM platform.audit_events")
        admin.execute("DELETE FROM platform.audit_checkpoints")
        admin.execute("UPDATE platform.audit_chain_head SET seq = 0, hash = decode(repeat('00', 32), 'hex')")
    owner, actor = uuid.uuid4(), uuid.uuid4()
    batch = [AccessEvent(actor, owner, Action.READ, "prompts", (uuid.uuid4(),), "req-bench") for _ in range(5_000)]
    with app.connection() as conn:
        start = datetime.now(UTC) - timedelta(seconds=1)
        for _ in range(VERIFY_EVENTS // len(batch)):
            with conn.transaction():
                ledger.append(conn, batch)
    app.close()
    sequencer = Sequencer(SequencerConfig("bench", every=10_000, seconds=3600, batch=20_000),
                          LocalReceiptSigner.generate(), None)
    with db.connect(SEQUENCER_ROLE, autocommit=True) as conn:  # as the sequencer service chains them
        while sequencer.step(conn):
            pass
    jobs = open_pool(db.settings(JOBS_ROLE, pool_max_size=1), db.password(JOBS_ROLE), name="bench-verify")
    try:
        with jobs.connection() as conn:
            trail = PostgresTrail(conn)
            started = time.perf_counter()
            with trail.snapshot():
                result = trail.verify_window(key, BreachScope(start, datetime.now(UTC) + timedelta(seconds=1)))
            elapsed = time.perf_counter() - started
        assert result.ok, result.describe()
        return result.report.checked / elapsed
    finally:
        jobs.close()


def _drill(db: PlatformDatabase) -> float:
    cluster, passwords = db.cluster, db.passwords

    def on(dbname: str) -> PlatformDatabase:
        return PlatformDatabase(cluster, dbname, passwords)

    scratch = PostgresScratchDatabases(creator=lambda d: on(d).connect(DRILL_ROLE), maintenance_db=db.dbname,
                                       settings_for=lambda d, role: on(d).settings(role),
                                       passwords_for=lambda role: db.password(role))
    record = run_breach_drill(scratch, log=None)
    assert record.passed, record.describe()
    return record.seconds


def breach_figures(events: int = EVENTS, organisations: int = ORGANISATIONS) -> dict[str, str]:
    started = time.perf_counter()
    with bench_database() as db:
        drill_s = _drill(db)
        t = time.perf_counter()
        actors = _load(db, events, organisations)
        load_s = time.perf_counter() - t
        whole = BreachScope(T0, T0 + STEP * (events + 1))
        impact_s, impact = _impact(db, whole)
        assert len(impact.organisations) == organisations, len(impact.organisations)
        actor_s, _ = _impact(db, BreachScope(T0, T0 + STEP * (events + 1), actors=frozenset({actors[0]})))
        outbox_s = _outbox(db, impact)
        verify_rate = _verify_rate(db)
    print(f"# breach benchmarks: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return {
        "breach_impact_s": f"{impact_s:.2f}",
        "breach_drill_s": f"{drill_s:.2f}",
        "breach_impact_users": str(len(impact.users)),
        "breach_impact_actor_s": f"{actor_s:.2f}",
        "breach_outbox_s": f"{outbox_s:.2f}",
        "breach_verify_events_per_s": f"{verify_rate:.0f}",
        "breach_ledger_load_s": f"{load_s:.0f}",
    }


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    for name, value in breach_figures(*arguments).items():
        print(f"{name}: {value}", flush=True)
