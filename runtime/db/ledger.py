"""The audit ledger in Postgres (P14): appends in the caller's transaction, checkpoints, and reading
the chain back for `verify`.

Appends lock the single `audit_chain_head` row, so concurrent writers get consecutive positions in
commit order; the lock is taken as the LAST step of a transaction (the owner transaction appends on
commit), which keeps it held for one round trip or two. The ledger's rows are written with the
database's clock.
"""

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from runtime.audit.chain import (
    ChainEntry,
    ChainKey,
    Checkpoint,
    TrustedCheckpoint,
    canonical_fields,
    link_hash,
    make_checkpoint,
)
from runtime.audit.events import EVENT_NAME, AccessEvent, check_events
from runtime.audit.verify import ChainHead, VerifyReport, verify_chain
from runtime.classification import PLATFORM_REGISTRY, Registry
from runtime.db.errors import translated
from runtime.db.schema import SUPPORT_SCHEMA
from runtime.errors import SchemaError

Connection = psycopg.Connection[Any]
DEFAULT_CHECKPOINT_EVERY: Final = 1000

_LOCK_HEAD = "SELECT seq, hash, clock_timestamp() FROM platform.audit_chain_head WHERE singleton FOR UPDATE"
_APPEND = """
WITH appended AS (
    INSERT INTO platform.audit_events (id, at, event, actor_id, owner_id, fields, prev_hash, hash)
    SELECT e.id, %(at)s, %(event)s, e.actor_id, e.owner_id, e.fields::jsonb, e.prev_hash, e.hash
    FROM unnest(%(ids)b::bigint[], %(actors)b::uuid[], %(owners)b::uuid[], %(fields)b::text[],
                %(prevs)b::bytea[], %(hashes)b::bytea[]) AS e(id, actor_id, owner_id, fields, prev_hash, hash)
    RETURNING 1
)
UPDATE platform.audit_chain_head SET seq = %(seq)s, hash = %(hash)s
WHERE singleton AND EXISTS (SELECT FROM appended)
"""
_ADD_CHECKPOINT = """
INSERT INTO platform.audit_checkpoints (seq, at, hash, mac) VALUES (%s, %s, %s, %s) ON CONFLICT (seq) DO NOTHING
"""


def _transaction(conn: Connection) -> AbstractContextManager[Any]:
    """The caller's transaction if one is open (append joins it), else a new one."""
    if conn.info.transaction_status == TransactionStatus.INTRANS:
        return nullcontext()
    return conn.transaction()


class AuditLedger:
    def __init__(
        self,
        key: ChainKey,
        *,
        registry: Registry = PLATFORM_REGISTRY,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        self._key = key
        self._registry = registry
        self._checkpoint_every = checkpoint_every

    def __repr__(self) -> str:
        return f"AuditLedger(checkpoint_every={self._checkpoint_every})"

    def append(self, conn: Connection, events: Sequence[AccessEvent]) -> int:
        """Chain `events` onto the ledger inside the current transaction; return the new head position."""
        if not events:
            return 0
        check_events(events, self._registry)
        with translated(), _transaction(conn):
            head = conn.execute(_LOCK_HEAD).fetchone()
            if head is None:
                raise SchemaError("the audit chain head row is missing; run `python -m runtime db migrate`")
            seq, prev, at = int(head[0]), bytes(head[1]), head[2]
            start = seq
            ids, actors, owners, documents, prevs, hashes = [], [], [], [], [], []
            for event in events:
                seq += 1
                fields = canonical_fields(event.fields())
                digest = link_hash(
                    self._key, prev_hash=prev, seq=seq, at=at, event=EVENT_NAME,
                    actor_id=event.actor_id, owner_id=event.owner_id, fields=fields,
                )
                ids.append(seq)
                actors.append(event.actor_id)
                owners.append(event.owner_id)
                documents.append(fields.decode())
                prevs.append(prev)
                hashes.append(digest)
                prev = digest
            conn.execute(
                _APPEND,
                {"at": at, "event": EVENT_NAME, "ids": ids, "actors": actors, "owners": owners, "fields": documents,
                 "prevs": prevs, "hashes": hashes, "seq": seq, "hash": prev},
            )
            if seq // self._checkpoint_every > start // self._checkpoint_every:
                self._add_checkpoint(conn, seq, at, prev)
        return seq

    def checkpoint(self, conn: Connection) -> Checkpoint | None:
        """Checkpoint the current head (None for an empty ledger). Keep `token()` outside the database."""
        with translated(), _transaction(conn):
            head = conn.execute(_LOCK_HEAD).fetchone()
            if head is None:
                raise SchemaError("the audit chain head row is missing; run `python -m runtime db migrate`")
            seq, chain_hash, at = int(head[0]), bytes(head[1]), head[2]
            if seq == 0:
                return None
            return self._add_checkpoint(conn, seq, at, chain_hash)

    def _add_checkpoint(self, conn: Connection, seq: int, at: Any, chain_hash: bytes) -> Checkpoint:
        cp = make_checkpoint(self._key, seq=seq, at=at, chain_hash=chain_hash)
        conn.execute(_ADD_CHECKPOINT, (cp.seq, cp.at, cp.hash, cp.mac))
        return cp


# --- reading the chain back (support and jobs roles read the support.* views) -------------------------


def read_head(conn: Connection, schema: str = SUPPORT_SCHEMA) -> ChainHead:
    query = sql.SQL("SELECT seq, hash FROM {}").format(sql.Identifier(schema, "audit_chain_head"))
    row = conn.execute(query).fetchone()
    return ChainHead(0, bytes(32)) if row is None else ChainHead(int(row[0]), bytes(row[1]))


def read_checkpoints(conn: Connection, schema: str = SUPPORT_SCHEMA) -> list[Checkpoint]:
    query = sql.SQL("SELECT seq, at, hash, mac FROM {} ORDER BY seq").format(
        sql.Identifier(schema, "audit_checkpoints")
    )
    return [Checkpoint(int(s), at, bytes(h), bytes(m)) for s, at, h, m in conn.execute(query).fetchall()]


def iter_entries(conn: Connection, schema: str = SUPPORT_SCHEMA, *, batch: int = 5000) -> Iterator[ChainEntry]:
    """Every event in position order, streamed through a server-side cursor (needs an open transaction)."""
    query = sql.SQL(
        "SELECT id, at, event, actor_id, owner_id, fields, prev_hash, hash FROM {} ORDER BY id"
    ).format(sql.Identifier(schema, "audit_events"))
    with conn.cursor(name=f"audit_verify_{uuid.uuid4().hex}") as cursor:
        cursor.itersize = batch
        cursor.execute(query)
        for seq, at, event, actor, owner, fields, prev_hash, digest in cursor:
            yield ChainEntry(int(seq), at, str(event), actor, owner, fields, bytes(prev_hash), bytes(digest))


def verify_ledger(
    conn: Connection,
    key: ChainKey,
    *,
    trusted: Iterable[TrustedCheckpoint] = (),
    schema: str = SUPPORT_SCHEMA,
) -> VerifyReport:
    """Verify the whole ledger from one consistent snapshot (REPEATABLE READ, read only)."""
    with translated():
        saved = conn.isolation_level, conn.read_only
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise SchemaError("verify_ledger needs an idle connection (it opens its own snapshot)")
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        try:
            with conn.transaction():
                head = read_head(conn, schema)
                checkpoints = read_checkpoints(conn, schema)
                return verify_chain(key, iter_entries(conn, schema), head=head, checkpoints=checkpoints,
                                    trusted=trusted)
        finally:
            conn.isolation_level, conn.read_only = saved

