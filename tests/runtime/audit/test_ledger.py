"""The audit trail in Postgres (P14): tampering of each kind, done the way someone with database access would
(superuser, triggers off), is detected at the first bad position by `audit verify` with no trusted input: the
public key and the Object Lock bucket (moto) only."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from runtime.audit import Problem
from runtime.audit.checkpoints import checkpoint_body
from runtime.db.schema import APP_ROLE, SUPPORT_ROLE
from runtime.signing import LocalReceiptSigner
from tests.support.audit_trail import BUCKET, ENVIRONMENT, REGION, Ledger, aws_env, make_ledger
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres
__all__ = ["aws_env"]

EVENTS = 11  # the organisation's creation, then ten writes
EVERY = 4  # signed checkpoints at positions 4 and 8, then 11 (the head, forced)


@pytest.fixture
def ledger(fresh_db: PlatformDatabase, aws_env: None) -> Iterator[Ledger]:
    for made in make_ledger(fresh_db, every=EVERY):
        made.write(EVENTS - 1)
        made.sequence()
        yield made


def tamper(db: PlatformDatabase, *statements: str) -> None:
    """What someone with superuser access could do: switch the append-only triggers off, then edit."""
    with db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            admin.execute(statement.encode())


def _hash_at(seq: int) -> str:
    return f"(SELECT hash FROM platform.audit_events WHERE seq = {seq})"  # noqa: S608 (a test's constant)


def test_ledger_untouched_chain_verifies(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok and report.checked == EVENTS and report.last_seq == EVENTS, report.describe()
    with ledger.db.connect(SUPPORT_ROLE) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM support.audit_signed_checkpoints ORDER BY seq")]
    assert seqs == [4, 8, 11]
    assert sorted(ledger.bucket.positions()) == [4, 8, 11]


def _link_sql(prev: str, e: str) -> str:
    """The SHA-256 link of row `e` after `prev` (runtime/audit/chain.py), computed in SQL, as an attacker
    with database access could: no key is needed."""
    def framed(value: str) -> str:
        return f"int4send(octet_length({value})) || {value}"
    columns = [prev, f"int8send({e}.seq)", f"timestamptz_send({e}.at)", f"convert_to({e}.event, 'UTF8')",
               f"uuid_send({e}.actor_id)", f"uuid_send({e}.owner_id)", f"jsonb_send({e}.fields)"]
    return ("sha256(convert_to('platform-audit-v2', 'UTF8') || '\\x00'::bytea || "
            + " || ".join(framed(c) for c in columns) + ")")


RELINK_FROM_5 = f"""
WITH RECURSIVE relinked AS (
    SELECT seq, hash FROM platform.audit_events WHERE seq = 4
    UNION ALL
    SELECT e.seq, {_link_sql("r.hash", "e")}
    FROM platform.audit_events e JOIN relinked r ON e.seq = r.seq + 1
)
UPDATE platform.audit_events e SET hash = r.hash,
    prev_hash = coalesce((SELECT hash FROM relinked p WHERE p.seq = e.seq - 1), e.prev_hash)
FROM relinked r WHERE e.seq = r.seq AND e.seq >= 5
"""  # noqa: S608 (a test's constant)


@pytest.mark.parametrize(
    ("statements", "problem", "position"),
    [
        (["UPDATE platform.audit_events SET fields = jsonb_set(fields, '{row_count}', '7') WHERE seq = 5"],
         Problem.EDITED, 5),
        (["UPDATE platform.audit_events SET owner_id = gen_random_uuid() WHERE seq = 6"], Problem.EDITED, 6),
        (["UPDATE platform.audit_events SET at = at - interval '1 day' WHERE seq = 2"], Problem.EDITED, 2),
        (["DELETE FROM platform.audit_events WHERE seq = 5"], Problem.MISSING, 5),
        (["DELETE FROM platform.audit_events WHERE seq = 5",
          "UPDATE platform.audit_events SET seq = seq - 1 WHERE seq > 5"], Problem.BROKEN_LINK, 5),
        (["""UPDATE platform.audit_events e SET at = o.at, event = o.event, actor_id = o.actor_id,
                 owner_id = o.owner_id, fields = o.fields, prev_hash = o.prev_hash, hash = o.hash
             FROM platform.audit_events o WHERE (e.seq, o.seq) IN ((5, 6), (6, 5))"""], Problem.BROKEN_LINK, 5),
        # An event inserted at 5 with an honest SHA-256 link (no key is needed to compute one): the next breaks.
        (["UPDATE platform.audit_events SET seq = seq + 1000 WHERE seq >= 5",
          "UPDATE platform.audit_events SET seq = seq - 999 WHERE seq >= 1000",
          """INSERT INTO platform.audit_events (id, at, event, actor_id, owner_id, fields, seq, prev_hash, hash)
             SELECT 100000, at, event, actor_id, gen_random_uuid(), fields, 5, hash, hash FROM platform.audit_events
             WHERE seq = 4""",
          f"UPDATE platform.audit_events e SET hash = {_link_sql('e.prev_hash', 'e')} WHERE id = 100000"],  # noqa: S608
         Problem.BROKEN_LINK, 6),
        # ... and with every link after it recomputed too: the next signed checkpoint catches it.
        (["UPDATE platform.audit_events SET fields = jsonb_set(fields, '{row_count}', '7') WHERE seq = 5",
          RELINK_FROM_5], Problem.BAD_CHECKPOINT, 8),
        (["DELETE FROM platform.audit_events WHERE seq > 9",
          f"UPDATE platform.audit_chain_head SET seq = 9, hash = {_hash_at(9)}"],  # noqa: S608
         Problem.TRUNCATED, 10),
        # The third case: the last checkpoint and the events past the one before it deleted, head moved.
        (["DELETE FROM platform.audit_events WHERE seq > 8",
          "DELETE FROM platform.audit_signed_checkpoints WHERE seq > 8",
          f"UPDATE platform.audit_chain_head SET seq = 8, hash = {_hash_at(8)}"],  # noqa: S608
         Problem.TRUNCATED, 9),
        (["DELETE FROM platform.audit_signed_checkpoints WHERE seq = 8"], Problem.DELETED_CHECKPOINT, 8),
        (["UPDATE platform.audit_signed_checkpoints SET body = convert_to(replace(convert_from(body, 'UTF8'), "
          "'\"seconds\":3600', '\"seconds\":3601'), 'UTF8') WHERE seq = 4"], Problem.BAD_CHECKPOINT, 4),
        (["UPDATE platform.audit_signed_checkpoints SET hash = decode(repeat('ab', 32), 'hex') WHERE seq = 4"],
         Problem.BAD_CHECKPOINT, 4),
        # The head moved back to a checkpoint, the events left in place (what platform_app could do before).
        ([f"UPDATE platform.audit_chain_head SET seq = 8, hash = {_hash_at(8)}"],  # noqa: S608
         Problem.REWOUND_HEAD, 9),
        (["TRUNCATE platform.audit_events"], Problem.TRUNCATED, 1),
    ],
    ids=["edited-fields", "edited-owner", "edited-time", "deleted", "deleted-renumbered", "reordered", "inserted",
         "rewritten-and-relinked", "truncated", "checkpoint-and-events-deleted", "checkpoint-row-deleted",
         "checkpoint-forged", "checkpoint-hash-changed", "head-rewound", "emptied"],
)
def test_ledger_tampering_detected_at_first_bad_position(
    ledger: Ledger, statements: list[str], problem: Problem, position: int
) -> None:
    tamper(ledger.db, *statements)
    report = ledger.verify()
    assert (report.problem, report.position) == (problem, position), report.describe()


def test_ledger_checkpoint_deleted_from_database_and_bucket_is_named_by_the_next(ledger: Ledger) -> None:
    """GOVERNANCE mode (dev, qa) lets a privileged principal delete a locked object; the next checkpoint names
    the one it follows, so the gap shows."""
    s3 = boto3.client("s3", region_name=REGION)
    for version in s3.list_object_versions(Bucket=BUCKET, Prefix=ledger.bucket.key(8))["Versions"]:
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"],
                         BypassGovernanceRetention=True)
    tamper(ledger.db, "DELETE FROM platform.audit_signed_checkpoints WHERE seq = 8")
    report = ledger.verify()
    assert (report.problem, report.position) == (Problem.DELETED_CHECKPOINT, 8), report.describe()


def test_ledger_forged_checkpoint_signed_with_another_key_refused(ledger: Ledger) -> None:
    body = checkpoint_body(environment=ENVIRONMENT, seq=10, chain_hash=bytes(32), at=datetime.now(UTC),
                           cutover=0, every=EVERY, seconds=3600, previous=None)
    forged = LocalReceiptSigner.generate().sign(body)
    with ledger.db.admin() as admin:
        admin.execute("INSERT INTO platform.audit_signed_checkpoints VALUES (10, now(), %s, %s, %s, 'forger')",
                      (bytes(32), body, forged))
    report = ledger.verify()
    assert (report.problem, report.position) == (Problem.BAD_CHECKPOINT, 10), report.describe()


def test_ledger_unsigned_tail_past_the_cadence_is_a_gap(ledger: Ledger) -> None:
    ledger.write(2)
    ledger.sequence(force=False)  # positions 12, 13: fewer than EVERY, so not yet signed
    assert ledger.verify().ok
    report = ledger.verify(now=datetime.now(UTC) + timedelta(hours=2))  # the sequencer promised one within 1 h
    assert (report.problem, report.position) == (Problem.CADENCE_GAP, 12), report.describe()


def test_ledger_parallel_verify_agrees_with_one_process(ledger: Ledger) -> None:
    tamper(ledger.db, "UPDATE platform.audit_events SET event = 'data.other' WHERE seq = 10")
    one, two = ledger.verify(workers=1), ledger.verify(workers=2)
    assert (one.problem, one.position) == (two.problem, two.position) == (Problem.EDITED, 10)


@pytest.mark.parametrize("statement", [
    "UPDATE platform.audit_chain_head SET seq = 4",
    "UPDATE platform.audit_events SET seq = 99 WHERE seq = 2",
    "UPDATE platform.audit_events SET hash = prev_hash WHERE seq = 2",
    "INSERT INTO platform.audit_events (event, actor_id, owner_id, fields, seq) "
    "VALUES ('data.accessed', gen_random_uuid(), gen_random_uuid(), '{}', 100)",
    "INSERT INTO platform.audit_signed_checkpoints VALUES (99, now(), '\\x00', '\\x00', '\\x00', 'k')",
    "DELETE FROM platform.audit_events",
    "SELECT seq FROM platform.audit_chain_head",
])
def test_app_role_cannot_order_or_head_the_chain(ledger: Ledger, statement: str) -> None:
    import psycopg

    with ledger.db.connect(APP_ROLE) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement.encode())
