"""Reading and writing SENSITIVE records: encrypt on the way in, decrypt on the way out, audit both.

    records = Records(cipher)
    with database.owner_transaction(principal) as tx:
        [row_id] = records.insert(tx, "prompts", [{"body": b"Summarise ..."}])
        [row] = records.get(tx, "prompts", [row_id])
        row.values["body"].reveal()

Values of SENSITIVE columns go in as bytes (or `Sensitive[bytes]`) and come out as `Sensitive[bytes]`,
encrypted under the owner's data key with the owner, table, column and row id as associated data.
Row ids are generated here. The owner column is always the bound owner: callers cannot name another.
Many rows go in with ONE statement (unnest of arrays), and one audit event lists their ids.
"""

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from psycopg import sql
from psycopg.adapt import PyFormat

from runtime.audit.events import Action
from runtime.classification import Sensitive
from runtime.db.errors import translated
from runtime.db.schema import CREATED_AT, RECORD_TABLES, SCHEMA, RecordTable
from runtime.db.session import OwnerTransaction, parse_id
from runtime.errors import InvalidRecordError

MAX_LIST_LIMIT: Final = 1000
_BINARY: Final = sql.Placeholder(format=PyFormat.BINARY)


class FieldCipher(Protocol):
    """What Records needs from runtime.envelope.EnvelopeCipher."""

    def encrypt(self, plaintext: bytes, *, owner: str, table: str, column: str, row_id: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes, *, owner: str, table: str, column: str, row_id: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime
    references: Mapping[str, uuid.UUID | None]
    values: Mapping[str, Sensitive[bytes] | None]


def _plaintext(value: object, table: str, column: str) -> bytes:
    if isinstance(value, Sensitive):
        value = value.reveal()
    if type(value) is not bytes:
        raise InvalidRecordError(f"{table}.{column} takes bytes (or Sensitive[bytes]); encode text as UTF-8 first")
    return value


@dataclass(frozen=True, slots=True)
class SealedRows:
    """Rows of one owner and table, encrypted and given ids, not yet written."""

    owner_id: uuid.UUID
    table: str
    ids: tuple[uuid.UUID, ...]
    references: Mapping[str, list[uuid.UUID | None]]
    sensitive: Mapping[str, list[bytes | None]] = field(repr=False)


class Records:
    def __init__(self, cipher: FieldCipher, tables: Mapping[str, RecordTable] = RECORD_TABLES) -> None:
        self._cipher = cipher
        self._tables = tables

    def _table(self, name: str) -> RecordTable:
        spec = self._tables.get(name)
        if spec is None:
            raise InvalidRecordError(f"{name!r} is not a SENSITIVE record table; use one of {sorted(self._tables)}")
        return spec

    # --- writes --------------------------------------------------------------------------------------

    def insert(self, tx: OwnerTransaction, table: str, rows: Sequence[Mapping[str, object]]) -> list[uuid.UUID]:
        """Encrypt and insert `rows` of the bound owner in one statement; return their new ids."""
        return self.write_sealed(tx, self.seal(tx.owner_id, table, rows))

    def seal(self, owner_id: uuid.UUID, table: str, rows: Sequence[Mapping[str, object]]) -> SealedRows:
        """Check and encrypt `rows` for `owner_id`, ready for `write_sealed`. CPU only, no database:
        a bulk writer seals the next batch while the database stores the previous one."""
        spec = self._table(table)
        owner_id = parse_id(owner_id, "owner_id")
        owner = str(owner_id)
        encrypt = self._cipher.encrypt
        is_owner_table = spec.is_owner_table  # read once: the loop below runs per row
        if is_owner_table and len(rows) > 1:
            raise InvalidRecordError(f"{table} holds one row per owner, whose id is the owner id")
        ids: list[uuid.UUID] = []
        sensitive: dict[str, list[bytes | None]] = {c: [] for c in spec.sensitive_columns}
        references: dict[str, list[uuid.UUID | None]] = {c: [] for c in spec.reference_columns}
        writable = spec.writable_columns
        # One read of the random source for every row id of the batch (uuid4 reads 16 bytes per call).
        randomness = os.urandom(16 * len(rows))
        for index, row in enumerate(rows):
            if not writable.issuperset(row):
                unknown = ", ".join(sorted(set(row) - writable))
                raise InvalidRecordError(f"{table} has no writable column(s) {unknown}")
            at = 16 * index
            row_id = owner_id if is_owner_table else uuid.UUID(bytes=randomness[at : at + 16], version=4)
            row_key = str(row_id)
            ids.append(row_id)
            for column, values in sensitive.items():
                value = row.get(column)
                if value is None:
                    values.append(None)
                    continue
                if type(value) is not bytes:
                    value = _plaintext(value, table, column)
                values.append(encrypt(value, owner=owner, table=table, column=column, row_id=row_key))
            for column, refs in references.items():
                ref = row.get(column)
                refs.append(None if ref is None else parse_id(ref, f"{table}.{column}"))
        return SealedRows(owner_id, spec.name, tuple(ids), references, sensitive)

    def write_sealed(self, tx: OwnerTransaction, sealed: SealedRows) -> list[uuid.UUID]:
        """Insert sealed rows in one statement (INSERT ... SELECT FROM unnest) and record the write."""
        if sealed.owner_id != tx.owner_id:
            # RLS would refuse them too, and their ciphertexts are bound to the other owner anyway.
            raise InvalidRecordError("these rows were sealed for another owner than the transaction's")
        if not sealed.ids:
            return []
        spec = self._table(sealed.table)
        columns = ["id", *sealed.references, *sealed.sensitive]
        # Binary parameters: 1 KiB ciphertexts travel as raw bytes, not as hex-escaped text.
        arrays = [sql.SQL("{}::uuid[]").format(_BINARY) for _ in ["id", *sealed.references]] + [
            sql.SQL("{}::bytea[]").format(_BINARY) for _ in sealed.sensitive
        ]
        params: list[object] = [list(sealed.ids), *sealed.references.values(), *sealed.sensitive.values()]
        if spec.is_owner_table:  # organisations: the owner column IS the id column
            query = sql.SQL("INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})").format(
                table=sql.Identifier(SCHEMA, spec.name),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                arrays=sql.SQL(", ").join(arrays),
            )
        else:
            query = sql.SQL("INSERT INTO {table} ({owner}, {columns}) SELECT {bound}, * FROM unnest({arrays})").format(
                table=sql.Identifier(SCHEMA, spec.name),
                owner=sql.Identifier(spec.owner_column),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                bound=sql.SQL("{}::uuid").format(_BINARY),
                arrays=sql.SQL(", ").join(arrays),
            )
            params.insert(0, tx.owner_id)
        with translated():
            tx.connection.execute(query, params)
        tx.record(Action.WRITE, spec.name, sealed.ids)
        return list(sealed.ids)

    def update(self, tx: OwnerTransaction, table: str, row_id: uuid.UUID, values: Mapping[str, object]) -> bool:
        """Replace some columns of one row of the bound owner; False when no such row is visible."""
        spec = self._table(table)
        row_id = parse_id(row_id, f"{table}.id")
        unknown = values.keys() - spec.writable_columns
        if unknown or not values:
            raise InvalidRecordError(f"{table}: give at least one of {sorted(spec.writable_columns)} to update")
        assignments: list[sql.Composable] = []
        params: list[object] = []
        for column, value in values.items():
            assignments.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()))
            if value is None:
                params.append(None)
            elif column in spec.sensitive_columns:
                params.append(self._cipher.encrypt(_plaintext(value, table, column), owner=tx.owner_key,
                                                   table=table, column=column, row_id=str(row_id)))
            else:
                params.append(parse_id(value, f"{table}.{column}"))
        query = sql.SQL("UPDATE {table} SET {assignments} WHERE id = {id} RETURNING id").format(
            table=sql.Identifier(SCHEMA, table),
            assignments=sql.SQL(", ").join(assignments),
            id=sql.Placeholder(),
        )
        with translated():
            found = tx.connection.execute(query, [*params, row_id]).fetchall()
        tx.record(Action.WRITE, table, [r[0] for r in found])
        return bool(found)

    def delete(self, tx: OwnerTransaction, table: str, row_ids: Sequence[uuid.UUID]) -> int:
        spec = self._table(table)
        ids = [parse_id(r, f"{table}.id") for r in row_ids]
        query = sql.SQL("DELETE FROM {table} WHERE {id} = ANY({ids}) RETURNING {id}").format(
            table=sql.Identifier(SCHEMA, table), id=sql.Identifier("id"), ids=sql.Placeholder()
        )
        with translated():
            deleted = [r[0] for r in tx.connection.execute(query, [ids]).fetchall()]
        tx.record(Action.DELETE, spec.name, deleted)
        return len(deleted)

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, tx: OwnerTransaction, table: str, row_ids: Sequence[uuid.UUID]) -> list[Record]:
        """The visible rows among `row_ids` (another owner's ids simply match nothing), decrypted."""
        spec = self._table(table)
        ids = [parse_id(r, f"{table}.id") for r in row_ids]
        return self._select(tx, spec, sql.SQL("WHERE id = ANY({})").format(sql.Placeholder()), [ids])

    def newest(self, tx: OwnerTransaction, table: str, *, limit: int = 100) -> list[Record]:
        """The bound owner's most recent rows."""
        spec = self._table(table)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRecordError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        clause = sql.SQL("ORDER BY {} DESC LIMIT {}").format(sql.Identifier(CREATED_AT), sql.Placeholder())
        return self._select(tx, spec, clause, [limit])

    def _select(self, tx: OwnerTransaction, spec: RecordTable, clause: sql.Composable,
                params: list[object]) -> list[Record]:
        columns = ["id", spec.owner_column, CREATED_AT, *spec.reference_columns, *spec.sensitive_columns]
        if spec.is_owner_table:
            columns = ["id", CREATED_AT, *spec.reference_columns, *spec.sensitive_columns]
        query = sql.SQL("SELECT {columns} FROM {table} {clause}").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            table=sql.Identifier(SCHEMA, spec.name),
            clause=clause,
        )
        with translated():
            rows = tx.connection.execute(query, params, binary=True).fetchall()
        # Record the read before decrypting: what left the database is audited even if decryption fails.
        tx.record(Action.READ, spec.name, [r[0] for r in rows])
        return [self._decrypt(tx, spec, row) for row in rows]

    def _decrypt(self, tx: OwnerTransaction, spec: RecordTable, row: Sequence[Any]) -> Record:
        values = list(row)
        if spec.is_owner_table:  # organisations: the id is the owner
            values.insert(1, values[0])
        row_id: uuid.UUID = values[0]
        n_refs = len(spec.reference_columns)
        references: dict[str, uuid.UUID | None] = dict(zip(spec.reference_columns, values[3 : 3 + n_refs], strict=True))
        decrypted: dict[str, Sensitive[bytes] | None] = {}
        row_key = str(row_id)
        for column, blob in zip(spec.sensitive_columns, values[3 + n_refs :], strict=True):
            decrypted[column] = None if blob is None else Sensitive(
                self._cipher.decrypt(bytes(blob), owner=tx.owner_key, table=spec.name, column=column, row_id=row_key)
            )
        return Record(row_id, values[1], values[2], references, decrypted)
