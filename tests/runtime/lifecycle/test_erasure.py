"""Erasure (P10) on the real database: rows and keys gone, old ciphertext undecryptable, receipt MAC'd with
the configured completion date, idempotent and resumable, unknown organisations refused, writers fenced."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from psycopg import sql

from runtime.db import OwnerScope
from runtime.db.schema import RECORD_TABLES
from runtime.envelope import EnvelopeCipher
from runtime.errors import DatabaseError, DecryptionError, ReceiptError, UnknownOrganisationError
from runtime.lifecycle import ErasureState, LifecycleRequests, is_erasure_refusal, verify_receipt
from runtime.lifecycle.erasure import verify_erasure
from tests.runtime.lifecycle.conftest import RETENTION_DAYS, FixedClock, Organisation, Stack

pytestmark = pytest.mark.postgres


def _ciphertexts(stack: Stack, org: Organisation) -> list[tuple[str, str, str, bytes]]:
    """Every stored ciphertext of the organisation, read as the superuser: a copy, as a backup holds it."""
    copies = []
    with stack.db.admin() as admin:
        for table in RECORD_TABLES.values():
            for column in table.sensitive_columns:
                query = sql.SQL("SELECT id, {} FROM {} WHERE {} = %s AND {} IS NOT NULL").format(
                    sql.Identifier(column), sql.Identifier("platform", table.name),
                    sql.Identifier(table.owner_column), sql.Identifier(column))
                for row_id, blob in admin.execute(query, (org.owner_id,)).fetchall():
                    copies.append((table.name, column, str(row_id), bytes(blob)))
    return copies


def _rows_left(stack: Stack, owner_id: uuid.UUID) -> dict[str, int]:
    left = {}
    with stack.db.admin() as admin:
        for table in RECORD_TABLES.values():
            query = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                sql.Identifier("platform", table.name), sql.Identifier(table.owner_column))
            row = admin.execute(query, (owner_id,)).fetchone()
            assert row is not None
            if row[0]:
                left[table.name] = row[0]
        keys = admin.execute("SELECT count(*) FROM platform.data_keys WHERE owner_id = %s", (owner_id,)).fetchone()
        assert keys is not None
        if keys[0]:
            left["data_keys"] = keys[0]
    return left


def _decrypts(cipher: EnvelopeCipher, owner: uuid.UUID, copy: tuple[str, str, str, bytes]) -> bool:
    table, column, row_id, blob = copy
    try:
        cipher.decrypt(blob, owner=str(owner), table=table, column=column, row_id=row_id)
    except DecryptionError:
        return False
    return True


def test_erase_removes_every_row_and_key_and_old_ciphertext_no_longer_decrypts(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    org, other = make_org(), make_org()
    copies, other_copies = _ciphertexts(lc_stack, org), _ciphertexts(lc_stack, other)
    assert all(_decrypts(lc_stack.fresh_jobs_cipher(), org.owner_id, c) for c in copies)
    receipt = lc_stack.eraser().erase(org.principal)
    assert _rows_left(lc_stack, org.owner_id) == {}
    # A copy of the ciphertext from before (a snapshot, a dump, a replica) no longer decrypts, in a fresh task
    # or in the one that erased (its cache was emptied), while the other organisation's still does.
    for cipher in (lc_stack.fresh_jobs_cipher(), lc_stack.jobs_cipher):
        assert not any(_decrypts(cipher, org.owner_id, c) for c in copies)
        assert all(_decrypts(cipher, other.owner_id, c) for c in other_copies)
    assert receipt["rows_deleted"] == {t: len(r) for t, r in org.rows.items()}
    assert receipt["rows_total"] == org.total and receipt["data_keys_destroyed"] == 1
    assert _rows_left(lc_stack, other.owner_id) != {}


def test_erase_verify_proves_nothing_readable_remains(lc_stack: Stack, make_org: Callable[..., Organisation]) -> None:
    org = make_org()
    receipt = lc_stack.eraser().erase(org.principal)
    report = verify_erasure(database=lc_stack.jobs, key_store=lc_stack.jobs_keys,
                            fresh_cipher=lc_stack.fresh_jobs_cipher, receipt_key=lc_stack.receipt_key,
                            principal=org.principal, receipt=receipt)
    assert report.ok, report.describe()
    names = {c.name for c in report.checks}
    assert {"no rows left", "data keys destroyed", "old ciphertext undecryptable", "receipt"} <= names


def test_erase_receipt_signature_verifies_and_detects_tampering(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    receipt = lc_stack.eraser().erase(make_org().principal)
    verified = verify_receipt(lc_stack.receipt_key, receipt)
    assert verified.rows_total == receipt["rows_total"]
    for field, value in [("rows_total", 0), ("complete_everywhere_by", "2000-01-01T00:00:00.000000+00:00"),
                         ("owner_id", str(uuid.uuid4()))]:
        with pytest.raises(ReceiptError, match="signature does not verify"):
            verify_receipt(lc_stack.receipt_key, {**receipt, field: value})
    with pytest.raises(ReceiptError):
        verify_receipt(lc_stack.receipt_key, {**receipt, "extra": 1})


def test_erase_completion_date_is_now_plus_longest_configured_retention(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    clock = FixedClock()
    receipt = lc_stack.eraser(clock=clock).erase(make_org().principal)
    assert receipt["erased_at"] == clock.at.isoformat(timespec="microseconds")
    expected = clock.at + timedelta(days=RETENTION_DAYS)
    assert receipt["complete_everywhere_by"] == expected.isoformat(timespec="microseconds")
    assert receipt["longest_backup_retention_days"] == RETENTION_DAYS


def test_erase_twice_is_idempotent(lc_stack: Stack, make_org: Callable[..., Organisation]) -> None:
    org = make_org()
    first = lc_stack.eraser().erase(org.principal)
    assert lc_stack.eraser().erase(org.principal) == first


class Crash(Exception):
    pass


def test_erase_crashed_midway_then_rerun_completes_with_exact_counts(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    org = make_org()

    def crash_on_second_batch_of_model_calls(step: str, seen: list[str] = []) -> None:  # noqa: B006
        seen.append(step)
        if seen.count("delete:model_calls") == 2:
            raise Crash("killed mid-erasure")

    with pytest.raises(Crash):
        lc_stack.eraser(batch_rows=5, on_step=crash_on_second_batch_of_model_calls).erase(org.principal)
    status = LifecycleRequests(lc_stack.jobs).erasure_status(org.principal)
    assert status is not None and status.state is ErasureState.STARTED
    left = _rows_left(lc_stack, org.owner_id)
    assert 0 < left["model_calls"] < len(org.rows["model_calls"]) and "evaluation_results" not in left
    # Writes are refused while the erasure is unfinished.
    with pytest.raises(DatabaseError) as refused, lc_stack.app.owner_transaction(org.principal) as tx:
        lc_stack.records.insert(tx, "prompts", [{"body": b"late"}])
    assert is_erasure_refusal(refused.value)
    receipt = lc_stack.eraser(batch_rows=5).erase(org.principal)
    assert _rows_left(lc_stack, org.owner_id) == {}
    assert receipt["rows_deleted"] == {t: len(r) for t, r in org.rows.items()}


def test_erase_unknown_organisation_is_an_error_and_records_nothing(lc_stack: Stack) -> None:
    stranger = OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-unknown")
    with pytest.raises(UnknownOrganisationError, match="nothing was erased"):
        lc_stack.eraser().erase(stranger)
    assert LifecycleRequests(lc_stack.jobs).erasure_status(stranger) is None


def test_write_after_erasure_started_is_refused(lc_stack: Stack, make_org: Callable[..., Organisation]) -> None:
    org = make_org()
    LifecycleRequests(lc_stack.app).request_erasure(org.principal)  # the service records it: the fence is up
    for table, row in [("prompts", {"body": b"new"}), ("users", {"email": b"x@y.test"})]:
        with pytest.raises(DatabaseError) as refused, lc_stack.app.owner_transaction(org.principal) as tx:
            lc_stack.records.insert(tx, table, [row])
        assert is_erasure_refusal(refused.value)
    some_prompt = next(iter(org.rows["prompts"]))
    with pytest.raises(DatabaseError) as refused, lc_stack.app.owner_transaction(org.principal) as tx:
        lc_stack.records.update(tx, "prompts", some_prompt, {"body": b"changed"})
    assert is_erasure_refusal(refused.value)
    lc_stack.eraser().erase(org.principal)
    assert _rows_left(lc_stack, org.owner_id) == {}


def test_writer_in_flight_when_erasure_starts_is_waited_for_and_erased(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    org = make_org()
    receipts: list[dict[str, object]] = []
    with lc_stack.app.owner_transaction(org.principal) as tx:
        [late] = lc_stack.records.insert(tx, "prompts", [{"body": b"written while the erasure starts"}])
        eraser = threading.Thread(target=lambda: receipts.append(lc_stack.eraser().erase(org.principal)))
        eraser.start()
        eraser.join(timeout=1.0)
        assert eraser.is_alive(), "the erasure must wait for the writer holding the owner's fence"
    eraser.join(timeout=30)
    assert receipts and _rows_left(lc_stack, org.owner_id) == {}
    assert receipts[0]["rows_deleted"]["prompts"] == len(org.rows["prompts"]) + 1  # type: ignore[index]
    assert late


def test_new_data_key_for_erased_owner_is_refused(lc_stack: Stack, make_org: Callable[..., Organisation]) -> None:
    """A task whose cache lost the key tries to create a new one for the erased owner: the fence refuses it."""
    org = make_org()
    lc_stack.eraser().erase(org.principal)
    stale_task = EnvelopeCipher(keyring=lc_stack.keyring, store=lc_stack.records._cipher._store)  # type: ignore[attr-defined]
    with pytest.raises(DatabaseError) as refused:
        stale_task.encrypt(b"x", owner=str(org.owner_id), table="prompts", column="body", row_id=str(uuid.uuid4()))
    assert is_erasure_refusal(refused.value)
    assert _rows_left(lc_stack, org.owner_id) == {}


def test_every_sensitive_table_and_the_key_table_carry_the_erasure_fence(lc_stack: Stack) -> None:
    """A new SENSITIVE table without the fence would let writes slip past an erasure."""
    with lc_stack.db.admin() as admin:
        fenced = {r[0] for r in admin.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'erasure_fence' AND NOT t.tgisinternal").fetchall()}
    assert fenced == {*RECORD_TABLES, "data_keys"}


def test_erasure_recorded_in_audit_trail_with_pseudonymous_ids_only(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    org = make_org()
    lc_stack.eraser().erase(org.principal)
    with lc_stack.db.admin() as admin:
        rows = admin.execute(
            "SELECT actor_id, fields FROM platform.audit_events WHERE owner_id = %s AND fields->>'action' = 'erase'",
            (org.owner_id,),
        ).fetchall()
    erased = {}
    for actor, fields in rows:
        assert actor == org.principal.actor_id and fields["row_ids"] == []
        erased[fields["table"]] = erased.get(fields["table"], 0) + fields["row_count"]
    assert erased == {**{t: len(r) for t, r in org.rows.items()}, "data_keys": 1}
