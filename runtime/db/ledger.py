"""The audit ledger in Postgres (P14): the request path's queue, and reading the chain back for `verify`.

`AuditLedger.append` INSERTs a transaction's access events into platform.audit_events in the caller's
transaction, with no chain position: the data and its audit trail commit together, and no row is locked, so
writers of different organisations never wait for each other. The sequencer (runtime/db/sequencer.py) gives
them positions and links afterwards; the database's clock stamps `at` (the column default).
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from runtime.audit.chain import ChainEntry, Checkpoint, canonical_fields
from runtime.audit.events import EVENT_NAME, AccessEvent, check_events
from runtime.audit.published import CheckpointRow
from runtime.audit.verify import ChainHead
from runtime.classification import PLATFORM_REGISTRY, Registry
from runtime.db.errors import translated
from runtime.db.plans import Statement
from runtime.db.schema import SUPPORT_SCHEMA
from runtime.errors import SchemaError

Connection = psycopg.Connection[Any]

# The columns an event's SHA-256 link covers after its position and previous hash (runtime/audit/chain.py), in
# order: the sequencer and `audit verify` both read them through COPY BINARY. One definition, so they cannot drift.
LINKED_COLUMNS: Final = "at, event, actor_id, owner_id, fields"
_COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER: Final = len(_COPY_SIGNATURE) + 8  # the signature, flags, header extension length (0)
_COPY_TRAILER: Final = b"\xff\xff"


def binary_rows(chunks: Iterator[Any]) -> Iterator[bytes]:
    """The rows of a COPY ... (FORMAT binary) stream, each as the server framed it (field count, then each field's
    length and bytes): the header (sent with the first row) and the trailer removed."""
    first = True
    for chunk in chunks:
        row = bytes(chunk)
        if first:
            first = False
            if row.startswith(_COPY_SIGNATURE):
                row = row[_COPY_HEADER:]
                if not row:
                    continue
        if row != _COPY_TRAILER:  # the last message; the stream is read to its end, so the COPY completes
            yield row
_QUEUE: Final = b"""
INSERT INTO platform.audit_events (event, actor_id, owner_id, fields)
SELECT %(event)s, e.actor_id, e.owner_id, e.fields::jsonb
FROM unnest(%(actors)b::uuid[], %(owners)b::uuid[], %(fields)b::text[]) AS e(actor_id, owner_id, fields)
"""


def _transaction(conn: Connection) -> AbstractContextManager[Any]:
    """The caller's transaction if one is open (append joins it), else a new one."""
    if conn.info.transaction_status == TransactionStatus.INTRANS:
        return nullcontext()
    return conn.transaction()


class AuditLedger:
    """Queues access events (the sequencer chains them)."""

    def __init__(self, *, registry: Registry = PLATFORM_REGISTRY) -> None:
        self._registry = registry

    def __repr__(self) -> str:
        return "AuditLedger()"

    def append(self, conn: Connection, events: Sequence[AccessEvent]) -> int:
        """Queue `events` inside the current transaction; return how many were queued."""
        if not events:
            return 0
        statement = self.queue_statement(events)
        with translated(), _transaction(conn):
            conn.execute(statement.query, statement.params)
        return len(events)

    def queue_statement(self, events: Sequence[AccessEvent]) -> Statement:
        """The INSERT that queues `events` (checked first), for a caller that runs it in its transaction: the
        owner API sends it in the same round trip as the data it audits (runtime/db/session.py)."""
        check_events(events, self._registry)
        return Statement(_QUEUE, {
            "event": EVENT_NAME,
            "actors": [e.actor_id for e in events],
            "owners": [e.owner_id for e in events],
            "fields": [canonical_fields(e.fields()).decode() for e in events],
        })


# --- reading the chain back (support and jobs roles read the support.* views) -------------------------


def _view(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def read_head(conn: Connection, schema: str = SUPPORT_SCHEMA) -> ChainHead:
    row = conn.execute(sql.SQL("SELECT seq, hash FROM {}").format(_view(schema, "audit_chain_head"))).fetchone()
    return ChainHead(0, bytes(32)) if row is None else ChainHead(int(row[0]), bytes(row[1]))


def read_cutover(conn: Connection, schema: str = SUPPORT_SCHEMA) -> int:
    """The last position of the HMAC-linked chain, as the database records it (0: none)."""
    row = conn.execute(sql.SQL("SELECT cutover FROM {}").format(_view(schema, "audit_chain_head"))).fetchone()
    if row is None:
        raise SchemaError("the audit chain head row is missing; run `python -m runtime db migrate`")
    return int(row[0])


def read_checkpoints(conn: Connection, schema: str = SUPPORT_SCHEMA) -> list[Checkpoint]:
    """The keyed (HMAC) checkpoints of the chain before the cut-over."""
    query = sql.SQL("SELECT seq, at, hash, mac FROM {} ORDER BY seq").format(_view(schema, "audit_checkpoints"))
    return [Checkpoint(int(s), at, bytes(h), bytes(m)) for s, at, h, m in conn.execute(query).fetchall()]


def read_signed_rows(conn: Connection, schema: str = SUPPORT_SCHEMA) -> list[CheckpointRow]:
    query = sql.SQL("SELECT seq, hash, body, signature, key_id FROM {} ORDER BY seq").format(
        _view(schema, "audit_signed_checkpoints"))
    return [CheckpointRow(int(s), bytes(h), bytes(b), bytes(sig), str(k))
            for s, h, b, sig, k in conn.execute(query).fetchall()]


def iter_entries(conn: Connection, first: int, last: int, schema: str = SUPPORT_SCHEMA, *,
                 batch: int = 5000) -> Iterator[ChainEntry]:
    """Events at positions first..last in position order, through a server-side cursor (needs a transaction)."""
    query = sql.SQL(
        "SELECT seq, at, event, actor_id, owner_id, fields, prev_hash, hash FROM {} "
        "WHERE seq BETWEEN %s AND %s ORDER BY seq"
    ).format(_view(schema, "audit_events"))
    with conn.cursor(name=f"audit_verify_{uuid.uuid4().hex}") as cursor:
        cursor.itersize = batch
        cursor.execute(query, (first, last))
        for seq, at, event, actor, owner, fields, prev_hash, digest in cursor:
            yield ChainEntry(int(seq), at, str(event), actor, owner, fields, bytes(prev_hash), bytes(digest))


def copy_rows(conn: Connection, first: int, last: int, schema: str = SUPPORT_SCHEMA) -> Iterator[bytes]:
    """Positions first..last as COPY BINARY rows of (hash, prev_hash, seq, LINKED_COLUMNS), in position order
    (runtime/audit/segments.py reads them)."""
    query = sql.SQL(
        "COPY (SELECT hash, prev_hash, seq, {linked} FROM {view} WHERE seq BETWEEN {first} AND {last} ORDER BY seq) "
        "TO STDOUT (FORMAT binary)"
    ).format(linked=sql.SQL(LINKED_COLUMNS), view=_view(schema, "audit_events"), first=sql.Literal(first),
             last=sql.Literal(last))
    with conn.cursor().copy(query) as copy:
        yield from binary_rows(iter(copy))
