"""The audit sequencer (P14): in order, crash-safe, one leader, and the migration of an old HMAC-linked chain."""

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from runtime.audit import AccessEvent, Action, Problem
from runtime.audit.chain import GENESIS, link_hash, make_checkpoint
from runtime.db import migrate
from runtime.db.ledger import AuditLedger
from runtime.db.migrate import load_migrations
from runtime.db.roles import bootstrap_roles
from runtime.db.schema import APP_ROLE, OWNER_ROLE, SEQUENCER_ROLE
from runtime.db.sequencer import ADVISORY_LOCK, Sequencer, SequencerConfig, run
from runtime.errors import AuditKeyError
from tests.support.audit_trail import ENVIRONMENT, Ledger, aws_env, make_ledger
from tests.support.platform_db import PlatformDatabase, create_database

pytestmark = pytest.mark.postgres
__all__ = ["aws_env"]


@pytest.fixture
def ledger(fresh_db: PlatformDatabase, aws_env: None) -> Iterator[Ledger]:
    yield from make_ledger(fresh_db, every=100)


def _positions(db: PlatformDatabase) -> list[tuple[int, int | None]]:
    with db.admin() as admin:
        return [(int(i), s) for i, s in admin.execute("SELECT id, seq FROM platform.audit_events ORDER BY id")]


class _CrashBeforeHead:
    """A connection that dies (raises) right after the batch's links are written, before the head moves."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(query, str) and query.startswith("UPDATE platform.audit_chain_head"):
            raise ConnectionError("the sequencer's task was killed")
        return self._conn.execute(query, *args, **kwargs)


def test_sequencer_crash_mid_batch_loses_nothing_and_duplicates_nothing(ledger: Ledger) -> None:
    ledger.write(30)
    with ledger.db.connect(SEQUENCER_ROLE, autocommit=True) as conn, pytest.raises(ConnectionError):
        ledger.sequencer.integrate(_CrashBeforeHead(conn))  # type: ignore[arg-type]
    assert all(seq is None for _, seq in _positions(ledger.db))  # the half-done batch rolled back
    restarted = Sequencer(ledger.sequencer.config, ledger.signer, ledger.bucket)
    with ledger.db.connect(SEQUENCER_ROLE, autocommit=True) as conn:
        while restarted.step(conn):
            pass
        restarted.checkpoint_if_due(conn, force=True)
    positions = _positions(ledger.db)
    assert [seq for _, seq in positions] == list(range(1, 32))  # queue order, each event once, no gap
    assert ledger.verify().ok


def test_sequencer_signs_every_n_events_and_publishes_to_the_bucket(ledger: Ledger) -> None:
    ledger.write(250)
    ledger.sequence(force=False)
    assert sorted(ledger.bucket.positions()) == [100, 200]  # 251 sequenced, the tail of 51 not yet due
    report = ledger.verify()
    assert report.ok and report.last_seq == 251, report.describe()


def test_sequencer_signs_after_t_seconds(fresh_db: PlatformDatabase, aws_env: None) -> None:
    for made in make_ledger(fresh_db, every=1000, seconds=1):
        made.write(3)
        made.sequence(force=False)
        assert list(made.bucket.positions()) == []
        time.sleep(1.1)
        made.sequence(force=False)
        assert list(made.bucket.positions()) == [4]


def test_sequencer_reconciles_a_checkpoint_recorded_but_not_published(ledger: Ledger) -> None:
    ledger.write(5)
    unpublished = Sequencer(ledger.sequencer.config, ledger.signer, None)  # crashed before the upload
    with ledger.db.connect(SEQUENCER_ROLE, autocommit=True) as conn:
        unpublished.integrate(conn)
        unpublished.checkpoint_if_due(conn, force=True)
        assert list(ledger.bucket.positions()) == []
        assert ledger.sequencer.reconcile(conn) == 1
    assert list(ledger.bucket.positions()) == [6]
    assert ledger.verify().ok


def test_one_sequencer_leads_the_other_waits(ledger: Ledger) -> None:
    stop_first, stop_second = threading.Event(), threading.Event()

    def connect() -> psycopg.Connection[Any]:
        return ledger.db.connect(SEQUENCER_ROLE)

    first = threading.Thread(target=run, args=(connect, ledger.sequencer), kwargs={"stop": stop_first})
    second_sequencer = Sequencer(ledger.sequencer.config, ledger.signer, ledger.bucket)
    second = threading.Thread(target=run, args=(connect, second_sequencer),
                              kwargs={"stop": stop_second, "standby_seconds": 0.05})
    first.start()
    with ledger.db.admin() as admin:
        deadline = time.monotonic() + 10
        while not admin.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                                (ADVISORY_LOCK,)).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second.start()
        ledger.write(5)
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM platform.audit_events WHERE seq IS NULL").fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert second.is_alive()  # on standby
        stop_first.set()
        first.join(10)
        ledger.write(2)  # the standby takes over
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM platform.audit_events WHERE seq IS NULL").fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    stop_second.set()
    second.join(10)
    assert [seq for _, seq in _positions(ledger.db)] == list(range(1, 9))
    assert ledger.verify().ok


# --- migration 0012: an HMAC-linked chain written by the old code stays verifiable ---------------------------


def _legacy_chain(db: PlatformDatabase, chain_key: Any, events: int, every: int) -> None:
    """What the old AuditLedger wrote: positions = ids, HMAC links, keyed checkpoints every `every`."""
    prev, owner, actor = GENESIS, uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC).replace(microsecond=0)
    with db.admin() as admin, admin.transaction():
        for seq in range(1, events + 1):
            event = AccessEvent(actor, owner, Action.READ, "prompts", (uuid.uuid4(),), f"req-old-{seq}")
            digest = link_hash(chain_key, prev_hash=prev, seq=seq, at=at, event="data.accessed", actor_id=actor,
                               owner_id=owner, fields=event.fields())
            admin.execute("INSERT INTO platform.audit_events (id, at, event, actor_id, owner_id, fields, prev_hash,"
                          " hash) VALUES (%s, %s, 'data.accessed', %s, %s, %s::jsonb, %s, %s)",
                          (seq, at, actor, owner, psycopg.types.json.Json(event.fields()), prev, digest))
            if seq % every == 0:
                cp = make_checkpoint(chain_key, seq=seq, at=at, chain_hash=digest)
                admin.execute("INSERT INTO platform.audit_checkpoints VALUES (%s, %s, %s, %s)",
                              (cp.seq, cp.at, cp.hash, cp.mac))
            prev = digest
        admin.execute("UPDATE platform.audit_chain_head SET seq = %s, hash = %s", (events, prev))


@pytest.fixture
def migrated_old_chain(template_db: PlatformDatabase, chain_key: Any, aws_env: None) -> Iterator[Ledger]:
    """A database at migration 0011 with an old chain of 10 events, then migrated to the newest version."""
    name = f"t_old_{uuid.uuid4().hex[:10]}"
    create_database(template_db.cluster, name)
    db = PlatformDatabase(template_db.cluster, name, template_db.passwords)
    with db.admin() as admin:
        bootstrap_roles(admin, dbname=name, passwords=template_db.passwords)
    with db.connect(OWNER_ROLE) as owner:
        migrate(owner, migrations=[m for m in load_migrations() if m.version < 12])
    _legacy_chain(db, chain_key, 10, every=4)
    with db.connect(OWNER_ROLE) as owner:
        migrate(owner)
    yield from make_ledger(db, every=100)


def test_migration_keeps_the_old_chain_verifiable_and_signs_from_the_cut_over(migrated_old_chain: Ledger,
                                                                               chain_key: Any) -> None:
    ledger = migrated_old_chain
    ledger.write(3)  # the organisation's creation (make_ledger) and these three: positions 11..14
    ledger.sequence()
    with ledger.db.admin() as admin:
        signed = [r[0] for r in admin.execute("SELECT seq FROM platform.audit_signed_checkpoints ORDER BY seq")]
        cutover = admin.execute("SELECT cutover FROM platform.audit_chain_head").fetchone()
    assert cutover == (10,) and signed == [10, 14]  # the old head is signed first: it anchors the new links
    report = ledger.verify(chain_key=chain_key)
    assert report.ok and report.checked == 14, report.describe()
    with pytest.raises(AuditKeyError, match="chain key"):
        ledger.verify()  # the HMAC links need the key
    with ledger.db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")
        admin.execute("UPDATE platform.audit_events SET event = 'data.other' WHERE seq = 3")
    report = ledger.verify(chain_key=chain_key)
    assert (report.problem, report.position) == (Problem.EDITED, 3), report.describe()


def test_app_role_queues_without_choosing_time_or_position(ledger: Ledger) -> None:
    event = AccessEvent(uuid.uuid4(), uuid.uuid4(), Action.READ, "prompts", (), "req-1")
    with ledger.db.connect(APP_ROLE) as conn:
        assert AuditLedger().append(conn, [event]) == 1
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO platform.audit_events (at, event, actor_id, owner_id, fields) "
                         "VALUES (now() - interval '1 day', 'data.accessed', gen_random_uuid(), gen_random_uuid(), "
                         "'{}')")


def test_sequencer_config_refuses_non_positive_cadence() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        SequencerConfig(ENVIRONMENT, every=0, seconds=1)
