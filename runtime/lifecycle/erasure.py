"""Erasure on request (P10), on Postgres: fence writers out, delete every row of the organisation in every
SENSITIVE (and derived) table, destroy its data keys, delete its exports, and issue a signed receipt.

    receipt = Eraser(...).erase(principal)      # idempotent and resumable
    report = verify_erasure(...)                # proves nothing of the organisation remains readable

Steps, each its own owner-bound, audited transaction, recorded in `platform.erasures` so a crashed run is
finished by the next one:
1. start   takes the owner's erasure lock EXCLUSIVELY (waiting for in-flight writers and exports, which hold
           it shared), records the erasure (the tombstone: every later write of the owner is refused by the
           database), the ids of its data keys, and a canary: a platform constant encrypted under its key.
2. delete  every table, children before parents, in batches; each batch's count commits with it.
3. finish  takes the lock exclusively again, sweeps every table once more (a writer that was mid-flight),
           deletes the organisation row and the wrapped data keys, and deletes the organisation's exports from
           the export bucket, in ONE transaction (committed; the counts are kept on the erasures row).
4. key     per-organisation keys (P6, P10): schedules the deletion of the organisation's own key (KMS:
           ScheduleKeyDeletion with PLATFORM_KEY_DELETION_PENDING_DAYS, 7-30, default 7; locally its key file
           is destroyed at once). Idempotent: a key already pending deletion, or gone, is left as it is.
5. receipt signs and stores the receipt (version 3). Then this process forgets the keys.
Other tasks may still hold the unwrapped key in their cache for up to its max age, but there is nothing
left to read and every write is refused. Backups still hold the wrapped keys and ciphertext, so:
- per-organisation keys: once the organisation's key is deleted, no backup, snapshot or dump can be
  decrypted; the receipt's "complete everywhere by" is erasure time + pending window + cache max age.
- a shared key (PLATFORM_KEYRING_MODE=shared; never prod) cannot be destroyed: backups stay readable until
  they expire, which the receipt says (organisation_key "not-destroyable-shared-key"), dating "complete
  everywhere by" at erasure time + max(longest backup retention, cache max age).
"""

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from psycopg import sql
from psycopg.types.json import Jsonb

from runtime import settings
from runtime.audit.events import Action
from runtime.bounds import KEY_DELETION_PENDING_DAYS
from runtime.checks import Check
from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.records import FieldCipher
from runtime.db.schema import RECORD_TABLES, SCHEMA, RecordTable
from runtime.db.session import Database, OwnerScope, OwnerTransaction
from runtime.envelope import KeyState, OrganisationKeyAdmin, WrappedKeyStore
from runtime.errors import ConfigurationError, LifecycleError, ReceiptError, UnknownOrganisationError
from runtime.lifecycle.plan import ErasureState, deletion_order
from runtime.lifecycle.receipt import (
    KEY_CUSTOMER_HELD,
    PER_ORGANISATION,
    SHARED,
    ErasureReceipt,
    ReceiptKeys,
    verify_receipt,
)
from runtime.lifecycle.requests import erasure_row, organisation_exists, utc_now

DEFAULT_BATCH_ROWS: Final = 20_000
CANARY: Final = b"platform erasure canary v1: if this decrypts, the key was not destroyed"
CANARY_TABLE: Final = "erasures"
CANARY_COLUMN: Final = "canary"
_LOCK: Final = "SELECT pg_advisory_xact_lock(platform.erasure_lock_key(%s))"
_REFERENCES: Final = """
SELECT child.relname, parent.relname
FROM pg_constraint c
JOIN pg_class child ON child.oid = c.conrelid
JOIN pg_class parent ON parent.oid = c.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace
WHERE c.contype = 'f' AND n.nspname = %s
"""


class ErasureCipher(FieldCipher, Protocol):
    """What the eraser needs from runtime.envelope.EnvelopeCipher: encrypt (the canary, FieldCipher) and forget an
    owner's data key in this process (its cache)."""

    def shred_owner(self, owner: str) -> int: ...


@dataclass(frozen=True, slots=True)
class CompletedErasure:
    """One completed erasure as support.erasures lists it (NOT_SENSITIVE: ids and a time)."""

    owner_id: uuid.UUID
    erasure_id: uuid.UUID
    completed_at: datetime


_COMPLETED: Final = (
    "SELECT owner_id, id, completed_at FROM support.erasures WHERE state = 'complete' ORDER BY completed_at"
)


def completed_erasures(conn: Connection) -> list[CompletedErasure]:
    """Every completed erasure, oldest first: what `erase register` prints for the register of erasures."""
    with translated():
        rows = conn.execute(_COMPLETED).fetchall()
    return [CompletedErasure(owner, erasure, at) for owner, erasure, at in rows]


class ExportObjects(Protocol):
    """Deletes an owner's export files (runtime.lifecycle.s3 adapts S3)."""

    def delete_owner_exports(self, owner_id: uuid.UUID, locations: Sequence[str]) -> tuple[int, int]:
        """Delete every export of the owner: at `locations` (recorded with its export requests) and under the
        bucket's default prefix. Returns (objects deleted, locations this store cannot reach)."""
        ...

    def remaining(self, owner_id: uuid.UUID, locations: Sequence[str]) -> int:
        """How many object versions of the owner's exports still exist."""
        ...


def canary_ciphertext(cipher: FieldCipher, owner_id: uuid.UUID) -> bytes:
    owner = str(owner_id)
    return cipher.encrypt(CANARY, owner=owner, table=CANARY_TABLE, column=CANARY_COLUMN, row_id=owner)


def table_order(conn: Connection, tables: Mapping[str, RecordTable]) -> tuple[str, ...]:
    references = [(str(c), str(p)) for c, p in conn.execute(_REFERENCES, (SCHEMA,)).fetchall()]
    owners_table = next((t.name for t in tables.values() if t.is_owner_table), "")
    return deletion_order(tables, references, last=owners_table)


def _delete(conn: Connection, table: str, limit: int | None) -> int:
    target = sql.Identifier(SCHEMA, table)
    if limit is None:
        query = sql.SQL("DELETE FROM {}").format(target)
        return conn.execute(query).rowcount
    query = sql.SQL("DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} LIMIT %s))").format(t=target)
    return conn.execute(query, (limit,)).rowcount


def _add_counts(conn: Connection, counts: Mapping[str, int]) -> None:
    for table, n in counts.items():
        if n:
            conn.execute(
                "UPDATE platform.erasures SET rows_deleted = jsonb_set(rows_deleted, ARRAY[%s::text], "
                "to_jsonb(coalesce((rows_deleted ->> %s)::bigint, 0) + %s))",
                (table, table, n),
            )


def _record(tx: OwnerTransaction, table: str, count: int) -> None:
    if count:
        tx.record(Action.ERASE, table, (), row_count=count)


@dataclass(frozen=True, slots=True)
class ErasureSettings:
    environment: str
    longest_backup_retention_days: int
    dek_cache_max_age_seconds: float
    keyring_mode: str = SHARED  # per-organisation: the eraser schedules the organisation key's deletion
    key_deletion_pending_days: int = 7

    def __post_init__(self) -> None:
        if self.keyring_mode not in (PER_ORGANISATION, SHARED):
            raise ConfigurationError(f"unknown keyring mode {self.keyring_mode!r}")
        try:
            KEY_DELETION_PENDING_DAYS.check(self.key_deletion_pending_days)
        except ValueError:
            raise ConfigurationError(
                f"{settings.KEY_DELETION_PENDING_DAYS} must be {KEY_DELETION_PENDING_DAYS.describe()} days (KMS's "
                "range for a key's pending deletion)") from None


class Eraser:
    def __init__(
        self,
        *,
        database: Database,
        key_store: WrappedKeyStore,
        cipher: ErasureCipher,
        receipt_key: ReceiptKeys,
        settings: ErasureSettings,
        exports: ExportObjects | None = None,
        organisation_keys: OrganisationKeyAdmin | None = None,
        clock: Callable[[], datetime] = utc_now,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        tables: Mapping[str, RecordTable] = RECORD_TABLES,
        on_step: Callable[[str], None] = lambda step: None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        if (settings.keyring_mode == PER_ORGANISATION) != (organisation_keys is not None):
            raise ConfigurationError(
                "per-organisation keys: the eraser needs the administration of organisation keys (it schedules "
                "the key's deletion); shared key: it has none to destroy and must be given none")
        self._organisation_keys = organisation_keys
        self._database = database
        self._keys = key_store
        self._cipher = cipher
        self._receipt_key = receipt_key
        self._settings = settings
        self._exports = exports
        self._clock = clock
        self._batch = batch_rows
        self._tables = tables
        self._on_step = on_step  # called after each committed step (progress; tests inject crashes here)

    def erase(self, principal: OwnerScope) -> dict[str, Any]:
        """Erase the principal's organisation; return the signed receipt (the same one on every re-run)."""
        row = self._start(principal)
        if row["state"] == ErasureState.COMPLETE.value:
            return self._stored_receipt(row)
        with translated(), self._database.owner_transaction(principal) as tx:
            order = table_order(tx.connection, self._tables)
        owners_table = next((t.name for t in self._tables.values() if t.is_owner_table), None)
        for table in order:
            if table == owners_table:
                continue  # the organisation row goes last, in the finishing transaction
            while True:
                with translated(), self._database.owner_transaction(principal) as tx:
                    n = _delete(tx.connection, table, self._batch)
                    _record(tx, table, n)
                    _add_counts(tx.connection, {table: n})
                self._on_step(f"delete:{table}")
                if n < self._batch:
                    break
        receipt = self._finish(principal, order)
        self._cipher.shred_owner(str(principal.owner_id))  # forget the key in this process too
        self._on_step("finished")
        return receipt

    def _start(self, principal: OwnerScope) -> dict[str, Any]:
        owner_id = principal.owner_id
        # The canary is made before the lock (it needs the key store's own connection), only while a key exists.
        canary = canary_ciphertext(self._cipher, owner_id) if self._keys.current(str(owner_id)) else None
        with translated(), self._database.owner_transaction(principal) as tx:
            conn = tx.connection
            conn.execute(_LOCK, (owner_id,))
            row = erasure_row(conn)
            if row is not None and row["state"] == ErasureState.COMPLETE.value:
                return row
            if row is None and not organisation_exists(conn):
                raise UnknownOrganisationError(
                    f"no organisation {owner_id} and no erasure of it on record: nothing was erased; check the id"
                )
            key_ids = [bytes(k) for (k,) in conn.execute("SELECT key_id FROM platform.data_keys").fetchall()]
            now = self._clock()
            if row is None:
                erasure_id = uuid.uuid4()
                conn.execute(
                    "INSERT INTO platform.erasures (owner_id, id, state, requested_at, requested_by, started_at, "
                    "key_ids, canary) VALUES (%s, %s, 'started', %s, %s, %s, %s::bytea[], %s)",
                    (owner_id, erasure_id, now, principal.actor_id, now, key_ids, canary),
                )
                tx.record(Action.WRITE, "erasures", [erasure_id])
            else:
                conn.execute(
                    "UPDATE platform.erasures SET state = 'started', started_at = coalesce(started_at, %s), "
                    "key_ids = ARRAY(SELECT DISTINCT unnest(key_ids || %s::bytea[])), "
                    "canary = coalesce(canary, %s)",
                    (now, key_ids, canary),
                )
                tx.record(Action.WRITE, "erasures", [row["id"]])
            started = erasure_row(conn)
            assert started is not None
        self._on_step("started")
        return started

    def _finish(self, principal: OwnerScope, order: Sequence[str]) -> dict[str, Any]:
        owner_id = principal.owner_id
        with translated(), self._database.owner_transaction(principal) as tx:
            conn = tx.connection
            conn.execute(_LOCK, (owner_id,))  # waits for any writer or export still holding it
            current = erasure_row(conn)
            if current is not None and current["state"] == ErasureState.COMPLETE.value:
                return self._stored_receipt(current)  # a concurrent run finished first
            swept: dict[str, int] = {}
            for table in order:
                swept[table] = _delete(conn, table, None)
                _record(tx, table, swept[table])
            _add_counts(conn, swept)
            keys = conn.execute("DELETE FROM platform.data_keys").rowcount
            if keys:
                tx.record(Action.ERASE, "data_keys", (), row_count=keys)
            row = erasure_row(conn)
            assert row is not None
            locations = [str(loc) for (loc,) in conn.execute(
                "SELECT DISTINCT location FROM platform.export_requests WHERE location IS NOT NULL").fetchall()]
            deleted, unreachable = (0, 0) if self._exports is None else \
                self._exports.delete_owner_exports(owner_id, locations)
            if self._exports is None:
                unreachable = len(locations)
            conn.execute(
                "UPDATE platform.erasures SET keys_destroyed = keys_destroyed + %s, "
                "export_objects_deleted = export_objects_deleted + %s", (keys, deleted))
        self._on_step("deleted")
        scheduled_at, pending_days, customer = self._destroy_organisation_key(owner_id)
        self._on_step("key-deletion-scheduled")
        with translated(), self._database.owner_transaction(principal) as tx:
            conn = tx.connection
            conn.execute(_LOCK, (owner_id,))
            row = erasure_row(conn)
            assert row is not None
            if row["state"] == ErasureState.COMPLETE.value:
                return self._stored_receipt(row)  # a concurrent run finished first
            erased_at = self._clock()  # after the key's deletion was scheduled: the date counts from it
            per_org = scheduled_at is not None or customer
            receipt = ErasureReceipt(
                erasure_id=row["id"],
                owner_id=owner_id,
                environment=self._settings.environment,
                requested_at=row["requested_at"],
                erased_at=erased_at,
                longest_backup_retention_days=self._settings.longest_backup_retention_days,
                dek_cache_max_age_seconds=self._settings.dek_cache_max_age_seconds,
                rows_deleted={t: int(row["rows_deleted"].get(t, 0)) for t in order},
                data_keys_destroyed=row["keys_destroyed"],
                export_objects_deleted=row["export_objects_deleted"],
                local_exports_not_reached=unreachable,
                keyring_mode=PER_ORGANISATION if per_org else SHARED,
                key_deletion_pending_days=pending_days if scheduled_at is not None else None,
                key_deletion_scheduled_at=scheduled_at,
                customer_key=customer,
            ).signed(self._receipt_key)
            conn.execute("UPDATE platform.erasures SET state = 'complete', completed_at = %s, receipt = %s",
                         (erased_at, Jsonb(receipt)))
        self._on_step("complete")
        return receipt

    def _destroy_organisation_key(self, owner_id: uuid.UUID) -> tuple[datetime | None, int, bool]:
        """Per-organisation keys: schedule the deletion of the organisation's key (idempotent); when, and the
        deletion date KMS states (as a pending window from then). Shared key: (None, 0), nothing to destroy.
        The organisation's own key (BYOK): (None, 0, True): only the organisation can destroy it."""
        admin = self._organisation_keys
        if admin is None:
            return None, 0, False
        if admin.customer_key(str(owner_id)):
            return None, 0, True
        days = self._settings.key_deletion_pending_days
        now = self._clock()
        status = admin.schedule_deletion(str(owner_id), days)
        if status.state not in (KeyState.PENDING_DELETION, KeyState.MISSING):
            raise LifecycleError(
                f"the key of organisation {owner_id} is {status.state.value} after scheduling its deletion; the "
                "erasure is not complete: re-run `erase` (it resumes)")
        if status.deletion_date is not None:  # KMS's own date (a re-run: scheduled earlier, perhaps for longer)
            # counted from after the call, and the receipt counts from erased_at, later still: never short of it
            later = math.ceil((status.deletion_date - self._clock()) / timedelta(days=1))
            days = min(max(days, later), KEY_DELETION_PENDING_DAYS.maximum)
        return now, days, False

    def _stored_receipt(self, row: Mapping[str, Any]) -> dict[str, Any]:
        receipt = row["receipt"]
        if not isinstance(receipt, dict):
            raise LifecycleError("the erasure is complete but its receipt is missing; the erasures row was altered")
        verify_receipt(self._receipt_key, receipt)  # fail closed on a tampered stored receipt
        return receipt


# --- erase verify --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErasureVerifyReport:
    owner_id: uuid.UUID
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def describe(self) -> str:
        head = (f"erasure of {self.owner_id} VERIFIED: nothing of it remains readable" if self.ok
                else f"erasure of {self.owner_id} NOT verified")
        return head + "".join(f"\n- [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks)


def verify_erasure(
    *,
    database: Database,
    key_store: WrappedKeyStore,
    fresh_cipher: Callable[[], FieldCipher],
    receipt_key: ReceiptKeys,
    principal: OwnerScope,
    receipt: object | None = None,
    exports: ExportObjects | None = None,
    organisation_keys: OrganisationKeyAdmin | None = None,
    tables: Mapping[str, RecordTable] = RECORD_TABLES,
) -> ErasureVerifyReport:
    """Prove nothing of the organisation remains readable: its erasure is complete with a valid receipt, no
    row of it is left in any SENSITIVE table, no data key of it is left, a ciphertext made under its key
    before erasure (the canary, standing for every copy in a snapshot, dump or backup restored without its
    keys) no longer decrypts with this environment's keyring, no export of it is left, and (per-organisation
    keys) the organisation's own key is pending deletion or gone, so no backup can be decrypted either."""
    owner_id = principal.owner_id
    checks: list[Check] = []
    with translated(), database.owner_transaction(principal) as tx:
        conn = tx.connection
        row = erasure_row(conn)
        counts = {}
        for name in sorted(tables):
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, name))).fetchone()
            counts[name] = int(counted[0]) if counted else 0
        keys_left = conn.execute("SELECT count(*) FROM platform.data_keys").fetchone()
        locations = [str(loc) for (loc,) in conn.execute(
            "SELECT DISTINCT location FROM platform.export_requests WHERE location IS NOT NULL").fetchall()]
    if row is None:
        raise UnknownOrganisationError(f"no erasure of organisation {owner_id} is on record; run `erase` first")
    state = row["state"]
    checks.append(Check("erasure complete", state == ErasureState.COMPLETE.value, f"state is {state}"))
    checks.append(_receipt_check(receipt_key, row["receipt"], receipt))
    left = {t: n for t, n in counts.items() if n}
    checks.append(Check("no rows left", not left,
                        f"{len(counts)} SENSITIVE tables empty for the organisation" if not left
                        else "rows left in " + ", ".join(f"{t} ({n})" for t, n in left.items())))
    key_ids = [bytes(k) for k in row["key_ids"]]
    stored = [k for k in key_ids if key_store.get(str(owner_id), k) is not None]
    no_keys = (keys_left is not None and keys_left[0] == 0) and not stored
    checks.append(Check("data keys destroyed", no_keys,
                        f"none of its {len(key_ids)} data key(s) remains" if no_keys
                        else "data keys of the organisation still exist"))
    checks.append(_canary_check(fresh_cipher, owner_id, row["canary"]))
    checks.append(_organisation_key_check(organisation_keys, owner_id, row["receipt"]))
    if exports is not None:
        remaining = exports.remaining(owner_id, locations)
        checks.append(Check("exports deleted", remaining == 0,
                            "no export object (or version) remains" if remaining == 0
                            else f"{remaining} export object version(s) remain"))
    return ErasureVerifyReport(owner_id, tuple(checks))


def _receipt_check(key: ReceiptKeys, stored: object, given: object | None) -> Check:
    if stored is None:
        return Check("receipt", False, "no receipt was issued")
    try:
        verify_receipt(key, stored)
        if given is not None:
            verify_receipt(key, given)
            if given != stored:
                return Check("receipt", False, "the given receipt verifies but is not this erasure's")
    except ReceiptError as exc:
        return Check("receipt", False, str(exc))
    return Check("receipt", True, "signature (or, for an old receipt, MAC) verifies"
                 + (" (stored and given)" if given is not None else ""))


def _canary_check(fresh_cipher: Callable[[], FieldCipher], owner_id: uuid.UUID, canary: object) -> Check:
    from runtime.errors import DecryptionError

    name = "old ciphertext undecryptable"
    if not isinstance(canary, bytes | bytearray | memoryview):
        return Check(name, True, "the organisation never had a data key: nothing was ever encrypted for it")
    owner = str(owner_id)
    try:
        fresh_cipher().decrypt(bytes(canary), owner=owner, table=CANARY_TABLE, column=CANARY_COLUMN, row_id=owner)
    except DecryptionError:
        return Check(name, True, "a value encrypted under its key before erasure no longer decrypts")
    return Check(name, False, "a value encrypted under its key before erasure STILL decrypts: its key survives")


def _organisation_key_check(admin: OrganisationKeyAdmin | None, owner_id: uuid.UUID, stored: object) -> Check:
    name = "organisation key destroyed"
    mode = stored.get("keyring_mode", SHARED) if isinstance(stored, Mapping) else SHARED
    if mode != PER_ORGANISATION:
        return Check(name, True, "shared key (receipt version < 3 or keyring_mode shared): no organisation key "
                     "to destroy; backups stay readable until they expire, as the receipt's date says")
    if isinstance(stored, Mapping) and stored.get("organisation_key") == KEY_CUSTOMER_HELD:
        return Check(name, True, "the organisation's own key (BYOK) wrapped its data keys: only the organisation "
                     "can destroy it (then no copy decrypts); until then backups expire as the receipt's date says")
    if admin is None:
        return Check(name, False, "the receipt says per-organisation keys but this process has no organisation "
                     "key administration to check the key with (PLATFORM_KEYRING_MODE)")
    status = admin.state(str(owner_id))
    if status.state is KeyState.PENDING_DELETION:
        when = status.deletion_date.isoformat() if status.deletion_date else "its pending window's end"
        return Check(name, True, f"the organisation's key is pending deletion (deleted by {when}): it no longer "
                     "decrypts anything, in any copy")
    if status.state is KeyState.MISSING:
        return Check(name, True, "the organisation's key is gone: no copy of its data can be decrypted")
    return Check(name, False, f"the organisation's key is {status.state.value}: copies of its data (backups) "
                 "could still be decrypted; re-run `erase` (it schedules the deletion)")
