"""Reading one organisation's rows for an export, from Postgres, decrypted (P13).

    with owner_snapshot(connections, owner_id) as conn:
        source = PostgresExportSource(conn, cipher, owner_id)
        ...

The snapshot is ONE read-only REPEATABLE READ transaction bound to the owner (RLS), so every table is read
as of the same instant and references between files agree. Before it starts, the connection takes the
owner's erasure lock in shared mode (held until the export is written, uploads included): an erasure waits
for a running export and then deletes its files; an export never starts once an erasure is on record.
Rows stream through a server-side cursor, ITERSIZE at a time.
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import psycopg
from psycopg import sql

from runtime.audit.events import Action
from runtime.db.connect import Connection, ConnectionSource
from runtime.db.errors import translated
from runtime.db.records import FieldCipher
from runtime.db.schema import SCHEMA
from runtime.db.session import Database, OwnerScope, bind_owner
from runtime.errors import ErasureInProgressError, UnknownOrganisationError
from runtime.lifecycle.layout import ColumnKind, TableLayout, export_layouts
from runtime.lifecycle.requests import erasure_row, organisation_exists
from runtime.lifecycle.writers import Row

ITERSIZE: Final = 2000
_LOCK: Final = "SELECT pg_advisory_lock_shared(platform.erasure_lock_key(%s))"
_UNLOCK: Final = "SELECT pg_advisory_unlock_shared(platform.erasure_lock_key(%s))"


@contextmanager
def owner_snapshot(connections: ConnectionSource, owner_id: uuid.UUID) -> Iterator[Connection]:
    """A connection inside the owner's read-only snapshot; typed errors for an unknown or erased owner."""
    with connections.connection() as conn:
        saved = conn.autocommit, conn.isolation_level, conn.read_only
        locked = False
        try:
            with translated():
                conn.autocommit = True
                conn.execute(_LOCK, (owner_id,))
                locked = True
                conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
                with conn.transaction():
                    bind_owner(conn, owner_id)
                    if erasure_row(conn) is not None:
                        raise ErasureInProgressError(
                            f"organisation {owner_id} is being erased or was erased; its data can no longer be exported"
                        )
                    if not organisation_exists(conn):
                        raise UnknownOrganisationError(f"no organisation {owner_id}; check the id")
                    yield conn
        finally:
            if not conn.closed:
                if locked:
                    conn.execute(_UNLOCK, (owner_id,))
                conn.autocommit, conn.isolation_level, conn.read_only = saved


class PostgresExportSource:
    """The export's rows, decrypted; the connection must be in `owner_snapshot` for the same owner."""

    def __init__(self, conn: Connection, cipher: FieldCipher, owner_id: uuid.UUID,
                 layouts: Sequence[TableLayout] | None = None, *, itersize: int = ITERSIZE) -> None:
        self._conn = conn
        self._cipher = cipher
        self._owner = str(owner_id)
        self._layouts = tuple(export_layouts() if layouts is None else layouts)
        self._itersize = itersize

    def layouts(self) -> Sequence[TableLayout]:
        return self._layouts

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with translated():
            for layout in self._layouts:
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, layout.name))
                row = self._conn.execute(query).fetchone()
                counts[layout.name] = int(row[0]) if row else 0
        return counts

    def rows(self, layout: TableLayout) -> Iterator[Row]:
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in layout.column_names),
            sql.Identifier(SCHEMA, layout.name),
        )
        decrypt = self._cipher.decrypt
        owner, table = self._owner, layout.name
        sensitive = [(i, c.name) for i, c in enumerate(layout.columns) if c.kind is ColumnKind.BYTES]
        with translated(), self._conn.cursor(name=f"export_{table}_{uuid.uuid4().hex[:8]}", binary=True) as cursor:
            cursor.itersize = self._itersize
            cursor.execute(query)
            for record in cursor:
                row = list(record)
                row_id = row[0] = str(row[0])  # the text the associated data names, and the writer writes
                for index, column in sensitive:
                    blob = row[index]
                    if blob is not None:
                        row[index] = decrypt(blob, owner=owner, table=table, column=column, row_id=row_id)
                yield row


def record_export(database: Database, principal: OwnerScope, counts: dict[str, int]) -> None:
    """Audit the export before any row leaves the database (P14): one EXPORT event per table, with its count
    (the ids would make one event as large as the table; an export reads every row of the owner anyway)."""
    with database.owner_transaction(principal) as tx:
        for table, count in counts.items():
            tx.record(Action.EXPORT, table, (), row_count=count)
