"""The audit ledger in Postgres: tampering of each kind, done the way an attacker with database access
would (superuser, triggers off), is detected at the first bad position (P14)."""

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime import settings
from runtime.audit import AccessEvent, Action, ChainKey, Problem, TrustedCheckpoint
from runtime.cli import main
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger, verify_ledger
from runtime.db.schema import APP_ROLE, SUPPORT_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.errors import SchemaError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

EVENTS = 11  # the organisation's creation, then ten writes
CHECKPOINT_EVERY = 4  # checkpoints at positions 4 and 8
REGION = "eu-west-1"


@pytest.fixture
def ledger_db(fresh_db: PlatformDatabase, chain_key: ChainKey) -> Iterator[PlatformDatabase]:
    """A database of its own with EVENTS chained audit events."""
    pool = open_pool(fresh_db.settings(APP_ROLE, pool_max_size=2), fresh_db.password(APP_ROLE), name="ledger")
    try:
        cipher = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"),
                                store=PostgresWrappedKeyStore(pool))
        database = Database(pool, AuditLedger(chain_key, checkpoint_every=CHECKPOINT_EVERY))
        records = Records(cipher)
        principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-1")
        with database.owner_transaction(principal) as tx:
            records.insert(tx, "organisations", [{"name": b"Org"}])
        for i in range(EVENTS - 1):
            with database.owner_transaction(principal) as tx:
                records.insert(tx, "prompts", [{"body": f"prompt {i}".encode()}])
        yield fresh_db
    finally:
        pool.close()


def tamper(db: PlatformDatabase, *statements: str) -> None:
    """What someone with superuser access could do: switch the append-only triggers off, then edit."""
    with db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            admin.execute(statement.encode())


def verify(db: PlatformDatabase, key: ChainKey, trusted: tuple[TrustedCheckpoint, ...] = ()) -> Any:
    with db.connect(SUPPORT_ROLE) as conn:  # support can verify: the ledger is NOT_SENSITIVE
        return verify_ledger(conn, key, trusted=trusted)


def test_ledger_untouched_chain_verifies(ledger_db: PlatformDatabase, chain_key: ChainKey) -> None:
    report = verify(ledger_db, chain_key)
    assert report.ok and report.checked == EVENTS and report.last_seq == EVENTS


def test_ledger_writes_periodic_checkpoints(ledger_db: PlatformDatabase) -> None:
    with ledger_db.connect(SUPPORT_ROLE) as conn:
        assert [r[0] for r in conn.execute("SELECT seq FROM support.audit_checkpoints ORDER BY seq")] == [4, 8]


@pytest.mark.parametrize(
    ("statements", "problem", "position"),
    [
        (["UPDATE platform.audit_events SET fields = jsonb_set(fields, '{row_count}', '7') WHERE id = 5"],
         Problem.EDITED, 5),
        (["UPDATE platform.audit_events SET owner_id = gen_random_uuid() WHERE id = 6"], Problem.EDITED, 6),
        (["UPDATE platform.audit_events SET at = at - interval '1 day' WHERE id = 2"], Problem.EDITED, 2),
        (["DELETE FROM platform.audit_events WHERE id = 5"], Problem.MISSING, 5),
        (["DELETE FROM platform.audit_events WHERE id = 5",
          "UPDATE platform.audit_events SET id = id - 1 WHERE id > 5"], Problem.BROKEN_LINK, 5),
        (["""UPDATE platform.audit_events e SET at = o.at, event = o.event, actor_id = o.actor_id,
                 owner_id = o.owner_id, fields = o.fields, prev_hash = o.prev_hash, hash = o.hash
             FROM platform.audit_events o WHERE (e.id, o.id) IN ((5, 6), (6, 5))"""], Problem.BROKEN_LINK, 5),
        (["UPDATE platform.audit_events SET id = id + 1000 WHERE id >= 5",
          "UPDATE platform.audit_events SET id = id - 999 WHERE id >= 1000",
          """INSERT INTO platform.audit_events
             SELECT 5, at, event, actor_id, gen_random_uuid(), fields, hash, hash FROM platform.audit_events
             WHERE id = 4"""], Problem.EDITED, 5),
        (["DELETE FROM platform.audit_events WHERE id > 9"], Problem.TRUNCATED, 10),
        (["DELETE FROM platform.audit_events WHERE id > 6",
          "UPDATE platform.audit_chain_head SET seq = 6, hash = (SELECT hash FROM platform.audit_events WHERE id = 6)"],
         Problem.TRUNCATED, 7),
        (["UPDATE platform.audit_checkpoints SET hash = decode(repeat('ab', 32), 'hex') WHERE seq = 4"],
         Problem.BAD_CHECKPOINT, 4),
        (["TRUNCATE platform.audit_events"], Problem.TRUNCATED, 1),
    ],
    ids=["edited-fields", "edited-owner", "edited-time", "deleted", "deleted-renumbered", "reordered", "inserted",
         "truncated", "truncated-head-rewound", "checkpoint-forged", "emptied"],
)
def test_ledger_tampering_detected_at_first_bad_position(
    ledger_db: PlatformDatabase, chain_key: ChainKey, statements: list[str], problem: Problem, position: int
) -> None:
    tamper(ledger_db, *statements)
    report = verify(ledger_db, chain_key)
    assert (report.problem, report.position) == (problem, position), report.describe()


def test_ledger_truncation_with_every_trace_removed_caught_by_a_kept_checkpoint(
    ledger_db: PlatformDatabase, chain_key: ChainKey
) -> None:
    with ledger_db.connect(APP_ROLE) as conn:
        kept = AuditLedger(chain_key).checkpoint(conn)  # e.g. printed into CloudWatch by a scheduled job
    assert kept is not None and kept.seq == EVENTS
    tamper(
        ledger_db,
        "DELETE FROM platform.audit_events WHERE id > 6",
        "DELETE FROM platform.audit_checkpoints WHERE seq > 6",
        "UPDATE platform.audit_chain_head SET seq = 6, hash = (SELECT hash FROM platform.audit_events WHERE id = 6)",
    )
    assert verify(ledger_db, chain_key).ok  # nothing left inside the database to tell
    report = verify(ledger_db, chain_key, trusted=(TrustedCheckpoint.parse(kept.token()),))
    assert (report.problem, report.position) == (Problem.TRUNCATED, 7)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def _use_role(monkeypatch: pytest.MonkeyPatch, db: PlatformDatabase, role: str) -> None:
    """The task's environment: settings in variables, the password in a Secrets Manager secret."""
    s = db.settings(role)
    for name, value in {
        settings.DATABASE_HOST: s.host, settings.DATABASE_PORT: str(s.port), settings.DATABASE_NAME: s.dbname,
        settings.DATABASE_USER: role, settings.DATABASE_CA_BUNDLE: str(s.ca_bundle),
        settings.DATABASE_PASSWORD_SECRET_ID: f"db/{role}",
    }.items():
        monkeypatch.setenv(name, value)


def test_audit_cli_verify_checkpoint_and_trust(ledger_db: PlatformDatabase, chain_key_text: str, aws: Any,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI wired end to end: DB password and chain key from Secrets Manager (moto), real Postgres."""
    for role in (SUPPORT_ROLE, APP_ROLE):
        aws.create_secret(Name=f"db/{role}", SecretString=json.dumps({"password": ledger_db.passwords[role]}))
    aws.create_secret(Name="audit-key", SecretString=chain_key_text)
    key_args = ["--key-secret-id", "audit-key"]

    _use_role(monkeypatch, ledger_db, SUPPORT_ROLE)
    assert main(["audit", "verify", *key_args]) == 0
    assert f"audit chain OK: {EVENTS} events" in capsys.readouterr().out

    _use_role(monkeypatch, ledger_db, APP_ROLE)
    assert main(["audit", "checkpoint", *key_args]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith(f"{EVENTS}:")

    tamper(ledger_db, "UPDATE platform.audit_events SET event = 'data.other' WHERE id = 3")
    _use_role(monkeypatch, ledger_db, SUPPORT_ROLE)
    monkeypatch.setenv(settings.AUDIT_CHAIN_KEY, chain_key_text)  # as ECS injects it
    assert main(["audit", "verify", "--trust", token]) == 1
    assert "BROKEN at position 3 (edited)" in capsys.readouterr().out


def test_audit_cli_without_key_fails_with_one_line(ledger_db: PlatformDatabase, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _use_role(monkeypatch, ledger_db, SUPPORT_ROLE)
    monkeypatch.delenv(settings.AUDIT_CHAIN_KEY, raising=False)
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and settings.AUDIT_CHAIN_KEY in err and "Traceback" not in err


def test_ledger_append_without_migrated_head_is_a_schema_error(ledger_db: PlatformDatabase,
                                                               chain_key: ChainKey) -> None:
    tamper(ledger_db, "DELETE FROM platform.audit_chain_head")
    event = AccessEvent(uuid.uuid4(), uuid.uuid4(), Action.READ, "prompts", (), "req-1")
    with ledger_db.connect(APP_ROLE) as conn, pytest.raises(SchemaError, match="migrate"):
        AuditLedger(chain_key).append(conn, [event])

