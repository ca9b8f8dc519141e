"""Records: SENSITIVE values are stored as envelope ciphertext bound to owner/table/column/row, read
back decrypted, and every access lands in the audit ledger without payloads (P2, P6, P14)."""

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from runtime.classification import Sensitive
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, bulk, open_pool
from runtime.db.bulk import Batch
from runtime.db.schema import JOBS_ROLE
from runtime.db.session import OwnerTransaction, parse_id
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.errors import DecryptionError, IntegrityViolationError, InvalidRecordError, PermissionDeniedError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

PLAINTEXT = b"Summarise this contract for jane.doe@example.com"


def _events(db: PlatformDatabase, owner: uuid.UUID) -> list[dict[str, Any]]:
    with db.admin() as admin:
        rows = admin.execute(
            "SELECT event, actor_id, fields FROM platform.audit_events WHERE owner_id = %s ORDER BY id", (owner,)
        ).fetchall()
    return [{"event": e, "actor_id": a, **f} for e, a, f in rows]


@pytest.fixture
def owner(make_owner: Callable[[], OwnerScope]) -> OwnerScope:
    return make_owner()


def test_records_round_trip_decrypts_every_column(owner: OwnerScope, database: Database, records: Records) -> None:
    values = {"model": b"gpt-x", "input": PLAINTEXT, "output": b"ok", "input_tokens": b"12", "metadata": None}
    with database.owner_transaction(owner) as tx:
        [row_id] = records.insert(tx, "model_calls", [values])
        [row] = records.get(tx, "model_calls", [row_id])
    assert row.id == row_id and row.owner_id == owner.owner_id
    revealed = {k: (v.reveal() if v is not None else None) for k, v in row.values.items()}
    assert revealed == {**values, "output_tokens": None}
    assert "contract" not in repr(row)  # values stay boxed as Sensitive


def test_records_batch_columns_with_nulls_and_empty_values_round_trip(owner: OwnerScope, database: Database,
                                                                     records: Records) -> None:
    """A batch's columns go in as binary bytea[] built in one pass: NULLs, empty and 64 KiB values keep their place."""
    rows = [{"input": b"", "output": None, "model": b"m"}, {"input": os.urandom(65_536), "output": b"x"},
            {"input": b"third", "output": None, "model": None}]
    with database.owner_transaction(owner) as tx:
        ids = records.insert(tx, "model_calls", rows)
        read = {r.id: r for r in records.get(tx, "model_calls", ids)}
    for row_id, row in zip(ids, rows, strict=True):
        got = {c: None if v is None else v.reveal() for c, v in read[row_id].values.items()}
        assert got == {"model": None, "output": None, "input_tokens": None, "output_tokens": None,
                       "metadata": None, **row}


def test_records_stored_values_are_ciphertext(owner: OwnerScope, database: Database, records: Records,
                                              platform_db: PlatformDatabase) -> None:
    with database.owner_transaction(owner) as tx:
        [row_id] = records.insert(tx, "prompts", [{"body": PLAINTEXT}])
    with platform_db.admin() as admin:
        row = admin.execute("SELECT body FROM platform.prompts WHERE id = %s", (row_id,)).fetchone()
    assert row is not None
    stored = bytes(row[0])
    assert stored[0] == 1 and len(stored) == len(PLAINTEXT) + 85
    assert b"jane.doe" not in stored


def test_records_plaintext_written_directly_refused_by_the_database(owner: OwnerScope, database: Database) -> None:
    with pytest.raises(IntegrityViolationError, match="not envelope ciphertext"), \
            database.owner_transaction(owner) as tx:
        tx.connection.execute(
            "INSERT INTO platform.prompts (owner_id, id, body) VALUES (%s, %s, %s)",
            (owner.owner_id, uuid.uuid4(), PLAINTEXT * 3),
        )


@pytest.mark.parametrize(
    ("table", "row", "message"),
    [
        ("prompts", {"body": "text, not bytes"}, "takes bytes"),
        ("prompts", {"body": b"x", "owner_id": str(uuid.uuid4())}, "no writable column"),
        ("prompts", {"body": b"x", "secret_sauce": b"y"}, "no writable column"),
        ("model_calls", {"input": b"x", "prompt_id": "not-a-uuid"}, "must be a UUID"),
        ("audit_events", {"fields": b"{}"}, "not a SENSITIVE record table"),
        ("organisations", {"name": b"x"}, None),
    ],
)
def test_records_bad_rows_refused_before_any_sql(owner: OwnerScope, records: Records, table: str,
                                                 row: dict[str, object], message: str | None) -> None:
    if message is None:  # organisations: one row per owner
        with pytest.raises(InvalidRecordError, match="one row per owner"):
            records.seal(owner.owner_id, table, [row, row])
        return
    with pytest.raises((InvalidRecordError, ValueError), match=message):
        records.seal(owner.owner_id, table, [row])


def test_records_sensitive_box_accepted_as_value(owner: OwnerScope, database: Database, records: Records) -> None:
    with database.owner_transaction(owner) as tx:
        [row_id] = records.insert(tx, "datasets", [{"name": Sensitive(b"golden set")}])
        [row] = records.get(tx, "datasets", [row_id])
    name = row.values["name"]
    assert name is not None and name.reveal() == b"golden set"


def test_records_every_access_audited_without_payload(owner: OwnerScope, database: Database, records: Records,
                                                      platform_db: PlatformDatabase) -> None:
    with database.owner_transaction(owner) as tx:
        ids = records.insert(tx, "prompts", [{"body": PLAINTEXT}, {"body": b"two"}])
    with database.owner_transaction(owner) as tx:
        records.get(tx, "prompts", ids)
        records.update(tx, "prompts", ids[0], {"body": b"new body"})
        records.delete(tx, "prompts", ids[1:])
    events = _events(platform_db, owner.owner_id)[1:]  # [0] is the organisation's creation
    assert [(e["action"], e["table"], e["row_count"]) for e in events] == [
        ("write", "prompts", 2), ("read", "prompts", 2), ("write", "prompts", 1), ("delete", "prompts", 1),
    ]
    assert events[0]["row_ids"] == [str(i) for i in ids]
    assert all(e["request_id"] == owner.request_id and e["actor_id"] == owner.actor_id for e in events)
    assert all(e["event"] == "data.accessed" for e in events)
    dumped = json.dumps(events, default=str)
    assert "jane.doe" not in dumped and "Summarise" not in dumped and "new body" not in dumped


def test_records_failed_transaction_still_audits_its_reads(owner: OwnerScope, database: Database, records: Records,
                                                           platform_db: PlatformDatabase) -> None:
    with database.owner_transaction(owner) as tx:
        ids = records.insert(tx, "prompts", [{"body": b"kept"}])
    with pytest.raises(RuntimeError), database.owner_transaction(owner) as tx:
        records.get(tx, "prompts", ids)
        records.insert(tx, "prompts", [{"body": b"rolled back"}])
        raise RuntimeError("the request failed after reading")
    actions = [e["action"] for e in _events(platform_db, owner.owner_id)]
    assert actions[-2:] == ["write", "read"]  # the read stays on record; the rolled-back write does not
    with database.owner_transaction(owner) as tx:
        assert len(records.newest(tx, "prompts")) == 1


def test_records_ciphertext_moved_to_another_row_fails_to_decrypt(owner: OwnerScope, database: Database,
                                                                  records: Records,
                                                                  platform_db: PlatformDatabase) -> None:
    with database.owner_transaction(owner) as tx:
        first, second = records.insert(tx, "prompts", [{"body": b"first"}, {"body": b"second"}])
    with platform_db.admin() as admin:  # an attacker with database access swaps values between rows
        admin.execute("UPDATE platform.prompts SET body = (SELECT body FROM platform.prompts WHERE id = %s) "
                      "WHERE id = %s", (first, second))
    with pytest.raises(DecryptionError), database.owner_transaction(owner) as tx:
        records.get(tx, "prompts", [second])


def test_records_shredded_owner_unreadable_by_a_fresh_process(owner: OwnerScope, database: Database, records: Records,
                                                              platform_db: PlatformDatabase, key_pool: Any) -> None:
    """P10 in miniature: the erasure job (jobs role) deletes the owner's wrapped data key; the owner's rows
    no longer decrypt. The application role itself may not delete keys."""
    with database.owner_transaction(owner) as tx:
        [row_id] = records.insert(tx, "prompts", [{"body": b"to be erased"}])
    jobs = open_pool(platform_db.settings(JOBS_ROLE, pool_max_size=1), platform_db.password(JOBS_ROLE), name="jobs")
    try:
        assert PostgresWrappedKeyStore(jobs).delete_owner(str(owner.owner_id)) == 1
    finally:
        jobs.close()
    with pytest.raises(PermissionDeniedError):
        PostgresWrappedKeyStore(key_pool).delete_owner(str(owner.owner_id))
    fresh_process = Records(EnvelopeCipher(
        keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"), store=PostgresWrappedKeyStore(key_pool)
    ))
    with pytest.raises(DecryptionError), database.owner_transaction(owner) as tx:
        fresh_process.get(tx, "prompts", [row_id])


def test_records_sealed_ids_are_random_uuid4s_bound_into_their_ciphertexts(owner: OwnerScope, records: Records,
                                                                          db_cipher: EnvelopeCipher) -> None:
    """seal makes its row ids outside uuid.UUID(): they must be plain version-4 UUIDs, usable as any other (parse_id,
    text, bytes, equality), and each ciphertext must be bound to its own row id's canonical text."""
    sealed = records.seal(owner.owner_id, "prompts", [{"body": b"row %d" % i} for i in range(300)])
    assert len(set(sealed.ids)) == 300
    for index, row_id in enumerate(sealed.ids):
        assert type(row_id) is uuid.UUID and row_id.version == 4 and row_id.variant == uuid.RFC_4122
        assert uuid.UUID(str(row_id)) == row_id == uuid.UUID(bytes=row_id.bytes) and parse_id(row_id, "id") is row_id
        assert hash(row_id) == hash(uuid.UUID(int=row_id.int))
        body = sealed.sensitive["body"][index]
        assert body is not None
        assert db_cipher.decrypt(body, owner=str(owner.owner_id), table="prompts", column="body",
                                 row_id=str(row_id)) == b"row %d" % index
    bits = [(row_id.int >> shift) & 1 for row_id in sealed.ids for shift in range(128)
            if not 62 <= shift < 64 and not 76 <= shift < 80]  # all but the variant and version bits
    assert 0.45 < sum(bits) / len(bits) < 0.55  # random, not a constant or a counter


def test_records_sealed_for_another_owner_refused(owner: OwnerScope, make_owner: Callable[[], OwnerScope],
                                                  database: Database, records: Records) -> None:
    other = make_owner()
    sealed = records.seal(other.owner_id, "prompts", [{"body": b"x"}])
    with pytest.raises(InvalidRecordError, match="another owner"), database.owner_transaction(owner) as tx:
        records.write_sealed(tx, sealed)


def test_bulk_ingest_writes_every_batch_in_its_own_audited_transaction(
    make_owner: Callable[[], OwnerScope], database: Database, records: Records, platform_db: PlatformDatabase
) -> None:
    owners = [make_owner(), make_owner()]
    batches = [Batch(owners[i % 2], "prompts", [{"body": os.urandom(64)} for _ in range(5)]) for i in range(4)]
    written = bulk.ingest(database, records, batches)
    assert len(written) == len(set(written)) == 20
    for principal in owners:
        with database.owner_transaction(principal) as tx:
            assert len(records.newest(tx, "prompts")) == 10
        writes = [e for e in _events(platform_db, principal.owner_id) if e["table"] == "prompts"]
        assert [e["row_count"] for e in writes[:2]] == [5, 5]


def test_records_newest_limit_checked(owner: OwnerScope, database: Database, records: Records) -> None:
    with pytest.raises(InvalidRecordError), database.owner_transaction(owner) as tx:
        records.newest(tx, "prompts", limit=0)


def test_owner_transaction_records_nothing_it_did_not_do(owner: OwnerScope, database: Database,
                                                         platform_db: PlatformDatabase) -> None:
    before = len(_events(platform_db, owner.owner_id))
    with database.owner_transaction(owner) as tx:
        assert isinstance(tx, OwnerTransaction)
    assert len(_events(platform_db, owner.owner_id)) == before
