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

Lists page by keyset (runtime/db/paging.py) and filter by created_at, reference ids, and equality on
encrypted columns through keyed blind indexes (runtime/envelope/blind_index.py), written with the row and
exact after decryption. Each record read carries a `version` (a digest of its stored ciphertexts and
references: every write re-encrypts, so every write changes it), which the API answers as its ETag.
"""

import hashlib
import os
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import psycopg
from psycopg import sql
from psycopg.adapt import Dumper, PyFormat
from psycopg.pq import Format

from runtime.audit.events import Action
from runtime.classification import Sensitive
from runtime.db.paging import (
    BLIND_INDEXES,
    BlindIndexSpec,
    IndexKind,
    ListFilter,
    Position,
    exact_match,
    indexed_values,
)
from runtime.db.plans import Plan, Statement
from runtime.db.schema import CREATED_AT, RECORD_TABLES, SCHEMA, RecordTable
from runtime.db.session import OwnerBound, OwnerTransaction, parse_id
from runtime.envelope.blind_index import OwnerKeys, term
from runtime.envelope.cipher import EnvelopeCipher
from runtime.errors import InvalidRecordError

MAX_LIST_LIMIT: Final = 1000
# A filtered page fetches candidates in rounds until it holds `limit` exact matches; blind index false positives
# (one in 65,536 rows) make a second round rare, and after this many the page is answered short, with a cursor.
_MAX_PAGE_ROUNDS: Final = 4
_NO_FILTER: Final = ListFilter()
_BINARY: Final = sql.Placeholder(format=PyFormat.BINARY)
_ARRAY_HEAD: Final = struct.Struct("!iiiii")  # dimensions, has nulls, element type, length, lower bound
_LENGTH: Final = struct.Struct("!i").pack
_NULL: Final = _LENGTH(-1)
_BY_IDS: Final = b"WHERE id = ANY(%s)"
_NEWEST: Final = sql.SQL("ORDER BY {} DESC LIMIT %s").format(sql.Identifier(CREATED_AT)).as_bytes(None)
_BYTEA_OID: Final = 17


class ByteaArray:
    """A bytea[] parameter: the ciphertexts of one column of a batch, dumped in one pass (_ByteaArrayDumper)."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[bytes | None]) -> None:
        self.values = values


class _ByteaArrayDumper(Dumper):
    """PostgreSQL's binary array format, built with one join: psycopg's generic list dumper spends ~4 us on each
    1 KiB element of a batch, this ~0.6: 4 of the ~40 us of CPU a batch ingest spends per record."""

    format = Format.BINARY
    oid = 1001  # bytea[]

    def dump(self, obj: ByteaArray) -> bytes:
        parts: list[bytes] = [b""]
        nulls = 0
        for value in obj.values:
            if value is None:
                parts.append(_NULL)
                nulls = 1
            else:
                parts += (_LENGTH(len(value)), value)
        parts[0] = _ARRAY_HEAD.pack(1, nulls, _BYTEA_OID, len(obj.values), 1)
        return b"".join(parts)


psycopg.adapters.register_dumper(ByteaArray, _ByteaArrayDumper)


class FieldCipher(Protocol):
    """What Records needs from runtime.envelope.EnvelopeCipher."""

    def encrypt(self, plaintext: bytes, *, owner: str, table: str, column: str, row_id: str) -> bytes: ...

    def encrypt_columns(
        self, columns: Mapping[str, Sequence[bytes | None]], *, owner: str, table: str, row_ids: Sequence[str]
    ) -> dict[str, list[bytes | None]]: ...

    def decrypt(self, ciphertext: bytes, *, owner: str, table: str, column: str, row_id: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime
    references: Mapping[str, uuid.UUID | None]
    values: Mapping[str, Sensitive[bytes] | None]
    version: str = ""  # digest of the stored row (ciphertexts and references); changes with every write


def _version(row_id: uuid.UUID, stored: Sequence[Any]) -> str:
    """A digest of what is stored: ciphertexts are random per write, so any write changes it; it reveals nothing."""
    digest = hashlib.sha256(row_id.bytes)
    for value in stored:
        data = b"" if value is None else value.bytes if isinstance(value, uuid.UUID) else bytes(value)
        digest.update((len(data) + (value is not None)).to_bytes(4, "big") + data)
    return digest.hexdigest()[:32]


_V4_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))  # RFC 9562: the variant and version fields
_V4_SET: Final = (0x8000 << 48) | (4 << 76)


def _new_ids(count: int) -> tuple[list[uuid.UUID], list[str]]:
    """`count` random (version 4) UUIDs and their canonical texts, as uuid.uuid4() and str() make them, from ONE
    read of the random source, at a third of their cost (they are made outside UUID.__init__, which checks and
    converts its argument: ~2 us of the ~45 us of CPU a batch ingest spends per record)."""
    randomness = os.urandom(16 * count)
    ids: list[uuid.UUID] = []
    texts: list[str] = []
    new, assign, safety = object.__new__, object.__setattr__, uuid.SafeUUID.unknown
    for at in range(0, 16 * count, 16):
        number = int.from_bytes(randomness[at : at + 16], "big") & _V4_CLEAR | _V4_SET
        row_id = new(uuid.UUID)
        assign(row_id, "int", number)  # UUID's own fields (it is immutable), set as uuid.py sets them
        assign(row_id, "is_safe", safety)
        ids.append(row_id)
        digits = f"{number:032x}"
        texts.append(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
    return ids, texts


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
    # Blind index terms per index column: one term (or None) per row, or a set of terms (or None) per row.
    indexes: Mapping[str, list[int | None] | list[list[int] | None]] = field(default_factory=dict, repr=False)


class Records:
    def __init__(self, cipher: FieldCipher, tables: Mapping[str, RecordTable] = RECORD_TABLES,
                 blind_indexes: Mapping[str, tuple[BlindIndexSpec, ...]] = BLIND_INDEXES) -> None:
        self._cipher = cipher
        self._tables = tables
        # Blind indexes need keys derived from the organisation's data key: only the envelope cipher has them.
        self.owner_keys = OwnerKeys(cipher) if isinstance(cipher, EnvelopeCipher) else None
        self._indexes = {t: specs for t, specs in blind_indexes.items()
                         if t in tables and set(tables[t].blind_index_columns) == {s.column for s in specs}}
        self._queries: dict[tuple[object, ...], bytes] = {}  # rendered statements by shape (_query)

    def _index_key(self, owner: str, table: str, spec: BlindIndexSpec, *, create: bool) -> bytes | None:
        if self.owner_keys is None:
            raise InvalidRecordError(f"{table}.{spec.column}: blind indexes need the envelope cipher's keys")
        return self.owner_keys.index_key(owner, table, spec.source, create=create)

    def _terms(self, key: bytes, spec: BlindIndexSpec, plaintext: bytes) -> int | list[int]:
        if spec.kind is IndexKind.EXACT:
            return term(key, plaintext)
        return sorted({term(key, v) for v in indexed_values(spec, plaintext)})

    def _query(self, shape: tuple[object, ...], build: Callable[[], sql.Composable]) -> bytes:
        """A statement rendered once per shape (table, columns) and reused: composing SQL for every request
        cost more CPU than row-level security."""
        query = self._queries.get(shape)
        if query is None:
            query = self._queries[shape] = build().as_bytes(None)
        return query

    def _table(self, name: str) -> RecordTable:
        spec = self._tables.get(name)
        if spec is None:
            raise InvalidRecordError(f"{name!r} is not a SENSITIVE record table; use one of {sorted(self._tables)}")
        return spec

    # --- writes --------------------------------------------------------------------------------------

    def insert(self, tx: OwnerTransaction, table: str, rows: Sequence[Mapping[str, object]]) -> list[uuid.UUID]:
        """Encrypt and insert `rows` of the bound owner in one statement; return their new ids."""
        return tx.run(self.insert_plan(tx, table, rows))

    def seal(self, owner_id: uuid.UUID, table: str, rows: Sequence[Mapping[str, object]]) -> SealedRows:
        """Check and encrypt `rows` for `owner_id`, ready for `write_sealed`. CPU only, no database:
        a bulk writer seals the next batch while the database stores the previous one."""
        spec = self._table(table)
        owner_id = parse_id(owner_id, "owner_id")
        owner = str(owner_id)
        is_owner_table = spec.is_owner_table
        if is_owner_table and len(rows) > 1:
            raise InvalidRecordError(f"{table} holds one row per owner, whose id is the owner id")
        writable = spec.writable_columns
        for row in rows:
            if not writable.issuperset(row):
                unknown = ", ".join(sorted(set(row) - writable))
                raise InvalidRecordError(f"{table} has no writable column(s) {unknown}")
        if is_owner_table:
            ids, texts = [owner_id] * len(rows), [owner] * len(rows)
        else:
            ids, texts = _new_ids(len(rows))
        references = {c: [None if row.get(c) is None else parse_id(row[c], f"{table}.{c}") for row in rows]
                      for c in spec.reference_columns}
        plaintexts: dict[str, list[bytes | None]] = {}
        for column in spec.sensitive_columns:
            given = [row.get(column) for row in rows]
            plaintexts[column] = [v if v is None or type(v) is bytes else _plaintext(v, table, column) for v in given]
        sensitive = self._cipher.encrypt_columns(plaintexts, owner=owner, table=spec.name, row_ids=texts)
        indexes: dict[str, Any] = {}
        for blind in self._indexes.get(spec.name, ()):
            key = self._index_key(owner, spec.name, blind, create=True)
            assert key is not None  # created on write
            known: dict[bytes, int | list[int]] = {}  # a batch repeats values (model names): compute each once
            terms = indexes[blind.column] = []
            for value in plaintexts[blind.source]:
                if value is not None and value not in known:
                    known[value] = self._terms(key, blind, value)
                terms.append(None if value is None else known[value])
        return SealedRows(owner_id, spec.name, tuple(ids), references, sensitive, indexes)

    def insert_plan(self, tx: OwnerBound, table: str, rows: Sequence[Mapping[str, object]]) -> Plan[list[uuid.UUID]]:
        """`insert` as a plan (runtime/db/plans.py), for an async transaction."""
        return (yield from self.write_sealed_plan(tx, self.seal(tx.owner_id, table, rows)))

    def write_sealed(self, tx: OwnerTransaction, sealed: SealedRows) -> list[uuid.UUID]:
        """Insert sealed rows in one statement (INSERT ... SELECT FROM unnest) and record the write."""
        return tx.run(self.write_sealed_plan(tx, sealed))

    def write_sealed_plan(self, tx: OwnerBound, sealed: SealedRows) -> Plan[list[uuid.UUID]]:
        if sealed.owner_id != tx.owner_id:
            # RLS would refuse them too, and their ciphertexts are bound to the other owner anyway.
            raise InvalidRecordError("these rows were sealed for another owner than the transaction's")
        if not sealed.ids:
            return []
        spec = self._table(sealed.table)
        shape = (spec.name, tuple(sealed.references), tuple(sealed.sensitive), tuple(sealed.indexes))
        query = self._query(shape, lambda: self._insert_query(spec, *shape[1:]))
        # Binary parameters: 1 KiB ciphertexts travel as raw bytes, not as hex-escaped text, and arrays of
        # texts need no escaping.
        params: list[object] = [list(sealed.ids), *sealed.references.values(),
                                *map(ByteaArray, sealed.sensitive.values())]
        kinds = {i.column: i.kind for i in self._indexes.get(spec.name, ())}
        for column, terms in sealed.indexes.items():
            if kinds[column] is IndexKind.JSON_MEMBERS:  # a set per row: unnest cannot take ragged arrays
                params.append([None if t is None else "{" + ",".join(map(str, t)) + "}"  # type: ignore[arg-type]
                               for t in terms])
            else:
                params.append(list(terms))
        if not spec.is_owner_table:
            params.insert(0, tx.owner_id)
        yield Statement(query, params)
        tx.record(Action.WRITE, spec.name, sealed.ids)
        return list(sealed.ids)

    def _insert_query(self, spec: RecordTable, references: Sequence[str], sensitive: Sequence[str],
                      indexes: Sequence[str]) -> sql.Composable:
        """The INSERT ... SELECT FROM unnest of one shape of sealed rows, rendered once (and cached)."""
        columns = ["id", *references, *sensitive, *indexes]
        arrays = [sql.SQL("{}::uuid[]").format(_BINARY) for _ in ["id", *references]] + [
            sql.SQL("{}::bytea[]").format(_BINARY) for _ in sensitive
        ]
        outputs: list[sql.Composable] = [sql.Identifier("u", c) for c in columns[: len(arrays)]]
        kinds = {i.column: i.kind for i in self._indexes.get(spec.name, ())}
        for column in indexes:
            if kinds[column] is IndexKind.JSON_MEMBERS:
                arrays.append(sql.SQL("{}::text[]").format(_BINARY))
                outputs.append(sql.SQL("{}::integer[]").format(sql.Identifier("u", column)))
            else:
                arrays.append(sql.SQL("{}::integer[]").format(_BINARY))
                outputs.append(sql.Identifier("u", column))
        source = sql.SQL("FROM unnest({arrays}) AS u({names})").format(
            arrays=sql.SQL(", ").join(arrays), names=sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        if spec.is_owner_table:  # organisations: the owner column IS the id column
            query = sql.SQL("INSERT INTO {table} ({columns}) SELECT {outputs} {source}").format(
                table=sql.Identifier(SCHEMA, spec.name),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                outputs=sql.SQL(", ").join(outputs),
                source=source,
            )
        else:
            query = sql.SQL("INSERT INTO {table} ({owner}, {columns}) SELECT {bound}, {outputs} {source}").format(
                table=sql.Identifier(SCHEMA, spec.name),
                owner=sql.Identifier(spec.owner_column),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                bound=sql.SQL("{}::uuid").format(_BINARY),
                outputs=sql.SQL(", ").join(outputs),
                source=source,
            )
        return query

    def update(self, tx: OwnerTransaction, table: str, row_id: uuid.UUID, values: Mapping[str, object]) -> bool:
        """Replace some columns of one row of the bound owner; False when no such row is visible."""
        return tx.run(self.update_plan(tx, table, row_id, values))

    def update_plan(self, tx: OwnerBound, table: str, row_id: uuid.UUID, values: Mapping[str, object]) -> Plan[bool]:
        spec = self._table(table)
        row_id = parse_id(row_id, f"{table}.id")
        unknown = values.keys() - spec.writable_columns
        if unknown or not values:
            raise InvalidRecordError(f"{table}: give at least one of {sorted(spec.writable_columns)} to update")
        assigned: list[tuple[str, str]] = []  # (column, cast)
        params: list[object] = []
        for column, value in values.items():
            assigned.append((column, ""))
            if value is None:
                params.append(None)
            elif column in spec.sensitive_columns:
                params.append(self._cipher.encrypt(_plaintext(value, table, column), owner=tx.owner_key,
                                                   table=table, column=column, row_id=str(row_id)))
            else:
                params.append(parse_id(value, f"{table}.{column}"))
        for index in self._indexes.get(spec.name, ()):
            if index.source not in values:
                continue
            source = values[index.source]
            assigned.append((index.column, "::integer[]" if index.kind is IndexKind.JSON_MEMBERS else "::integer"))
            if source is None:
                params.append(None)
                continue
            key = self._index_key(tx.owner_key, spec.name, index, create=True)
            assert key is not None
            params.append(self._terms(key, index, _plaintext(source, table, index.source)))
        shape = ("update", table, *assigned)
        query = self._query(shape, lambda: sql.SQL("UPDATE {table} SET {sets} WHERE id = %s RETURNING id").format(
            table=sql.Identifier(SCHEMA, table),
            sets=sql.SQL(", ").join(
                sql.SQL("{} = %s" + cast).format(sql.Identifier(column)) for column, cast in assigned),
        ))
        found = yield Statement(query, [*params, row_id], rows=True)
        assert found is not None
        tx.record(Action.WRITE, table, [r[0] for r in found])
        return bool(found)

    def delete(self, tx: OwnerTransaction, table: str, row_ids: Sequence[uuid.UUID]) -> int:
        return tx.run(self.delete_plan(tx, table, row_ids))

    def delete_plan(self, tx: OwnerBound, table: str, row_ids: Sequence[uuid.UUID]) -> Plan[int]:
        spec = self._table(table)
        ids = [parse_id(r, f"{table}.id") for r in row_ids]
        query = self._query(("delete", table), lambda: sql.SQL(
            "DELETE FROM {table} WHERE {id} = ANY({ids}) RETURNING {id}").format(
            table=sql.Identifier(SCHEMA, table), id=sql.Identifier("id"), ids=sql.Placeholder()))
        found = yield Statement(query, [ids], rows=True)
        assert found is not None
        deleted = [r[0] for r in found]
        tx.record(Action.DELETE, spec.name, deleted)
        return len(deleted)

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, tx: OwnerTransaction, table: str, row_ids: Sequence[uuid.UUID]) -> list[Record]:
        """The visible rows among `row_ids` (another owner's ids simply match nothing), decrypted."""
        return tx.run(self.get_plan(tx, table, row_ids))

    def get_plan(self, tx: OwnerBound, table: str, row_ids: Sequence[uuid.UUID]) -> Plan[list[Record]]:
        spec = self._table(table)
        ids = [parse_id(r, f"{table}.id") for r in row_ids]
        return (yield from self._select_plan(tx, spec, _BY_IDS, [ids]))

    def newest(self, tx: OwnerTransaction, table: str, *, limit: int = 100) -> list[Record]:
        """The bound owner's most recent rows."""
        spec = self._table(table)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRecordError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        return tx.run(self._select_plan(tx, spec, _NEWEST, [limit]))

    def page(self, tx: OwnerTransaction, table: str, *, limit: int, list_filter: ListFilter = _NO_FILTER,
             after: Position | None = None) -> tuple[list[Record], Position | None]:
        """The bound owner's rows matching `list_filter`, newest first, after `after`; and the position to go on
        from (None at the end). Blind index candidates are decrypted and only exact matches kept."""
        return tx.run(self.page_plan(tx, table, limit=limit, list_filter=list_filter, after=after))

    def page_plan(self, tx: OwnerBound, table: str, *, limit: int, list_filter: ListFilter = _NO_FILTER,
                  after: Position | None = None) -> Plan[tuple[list[Record], Position | None]]:
        spec = self._table(table)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRecordError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        conditions: list[sql.Composable] = []
        params: list[object] = []
        if list_filter.created_from is not None:
            conditions.append(sql.SQL("{} >= {}").format(sql.Identifier(CREATED_AT), sql.Placeholder()))
            params.append(list_filter.created_from)
        if list_filter.created_before is not None:
            conditions.append(sql.SQL("{} < {}").format(sql.Identifier(CREATED_AT), sql.Placeholder()))
            params.append(list_filter.created_before)
        for column, ref in list_filter.references:
            if column not in spec.reference_columns:
                raise InvalidRecordError(f"{table} has no reference column {column}")
            conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()))
            params.append(parse_id(ref, f"{table}.{column}"))
        exact: list[tuple[BlindIndexSpec, bytes]] = []
        by_column = {i.column: i for i in self._indexes.get(spec.name, ())}
        for column, wanted in list_filter.equals:
            index = by_column.get(column)
            if index is None:
                raise InvalidRecordError(f"{table} has no blind index {column}")
            key = self._index_key(tx.owner_key, spec.name, index, create=False)
            if key is None:  # no data key: the organisation has stored nothing yet
                return [], None
            wanted_term = term(key, wanted)
            if index.kind is IndexKind.EXACT:
                conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()))
            else:  # the expression of the GIN index (0009_paging_and_blind_indexes.sql)
                conditions.append(sql.SQL("({}::integer[]) @> ARRAY[{}]::integer[]").format(
                    sql.Identifier(column), sql.Placeholder()))
            params.append(wanted_term)
            exact.append((index, wanted))
        items: list[Record] = []
        position = after
        for _ in range(_MAX_PAGE_ROUNDS):
            need = limit - len(items)
            keyset = list(conditions)
            keyset_params = list(params)
            if position is not None:
                keyset.append(sql.SQL("({}, {}) < ({}, {})").format(
                    sql.Identifier(CREATED_AT), sql.Identifier("id"), sql.Placeholder(), sql.Placeholder()))
                keyset_params += [position.created_at, position.id]
            where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(keyset) if keyset else sql.SQL("")
            clause = sql.SQL("{} ORDER BY {} DESC, {} DESC LIMIT {}").format(
                where, sql.Identifier(CREATED_AT), sql.Identifier("id"), sql.Placeholder())
            rows = yield from self._select_plan(tx, spec, clause.as_bytes(None), [*keyset_params, need + 1])
            more = len(rows) > need
            rows = rows[:need]
            items.extend(r for r in rows if all(
                exact_match(i, _revealed(r.values.get(i.source)), w) for i, w in exact))
            if rows:
                position = Position(rows[-1].created_at, rows[-1].id)
            if not more:
                return items, None
            if len(items) == limit:
                break
        return items, position

    def version(self, tx: OwnerTransaction, table: str, row_id: uuid.UUID, *, lock: bool = True) -> str | None:
        """The stored version of one visible row (locked FOR UPDATE by default, so a write that checked it
        cannot lose a concurrent one), or None; reads ciphertext only, decrypts nothing."""
        return tx.run(self.version_plan(tx, table, row_id, lock=lock))

    def version_plan(self, tx: OwnerBound, table: str, row_id: uuid.UUID, *, lock: bool = True) -> Plan[str | None]:
        spec = self._table(table)
        row_id = parse_id(row_id, f"{table}.id")
        query = self._query(("version", spec.name, lock), lambda: sql.SQL(
            "SELECT {columns} FROM {table} WHERE id = {id}{lock}").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, ["id", *spec.reference_columns, *spec.sensitive_columns])),
            table=sql.Identifier(SCHEMA, spec.name),
            id=sql.Placeholder(),
            lock=sql.SQL(" FOR UPDATE" if lock else ""),
        ))
        rows = yield Statement(query, [row_id], rows=True, binary=True)
        assert rows is not None
        return _version(rows[0][0], rows[0][1:]) if rows else None

    def _select_plan(self, tx: OwnerBound, spec: RecordTable, clause: bytes,
                     params: list[object]) -> Plan[list[Record]]:
        query = self._query(("select", spec.name), lambda: _select_head(spec)) + clause
        rows = yield Statement(query, params, rows=True, binary=True)
        assert rows is not None
        # Record the read before decrypting: what left the database is audited even if decryption fails.
        tx.record(Action.READ, spec.name, [r[0] for r in rows])
        return [self._decrypt(tx, spec, row) for row in rows]

    def _decrypt(self, tx: OwnerBound, spec: RecordTable, row: Sequence[Any]) -> Record:
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
        return Record(row_id, values[1], values[2], references, decrypted, _version(row_id, values[3:]))


def _select_head(spec: RecordTable) -> sql.Composable:
    """SELECT of a record's stored columns, in the order _decrypt reads them (organisations: no owner column)."""
    owner = [] if spec.is_owner_table else [spec.owner_column]
    columns = ["id", *owner, CREATED_AT, *spec.reference_columns, *spec.sensitive_columns]
    return sql.SQL("SELECT {columns} FROM {table} ").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)), table=sql.Identifier(SCHEMA, spec.name))


def _revealed(value: Sensitive[bytes] | None) -> bytes | None:
    return None if value is None else value.reveal()  # compared in the data layer only (the post-filter)
