"""Owner-bound transactions: the only way the runtime touches SENSITIVE rows (P3, P14).

    with database.owner_transaction(principal) as tx:
        records.insert(tx, "prompts", [{"body": b"..."}])

On entry the owner is bound with a parameterized `set_config('platform.owner_id', %s, true)`: local
to this transaction, so it cannot outlive it on a pooled connection. RLS policies read it back;
with nothing bound they match no row. Every access is recorded on the transaction and chained into
the audit ledger as the transaction's last statement, so data and its audit trail commit together.
If the transaction fails after rows were read, the reads are still recorded, in a transaction of
their own: what was seen stays accounted for.
"""

import re
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import psycopg
from psycopg import AsyncConnection as _AsyncConnection
from psycopg import ClientCursor, sql
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from runtime.audit.events import AccessEvent, Action, check_request_id
from runtime.db.connect import Connection, ConnectionSource
from runtime.db.errors import translated
from runtime.db.plans import Plan, Statement, run, run_async
from runtime.db.schema import OWNER_SETTING
from runtime.errors import DatabaseError, DatabaseUnavailableError, InvalidOwnerError

T = TypeVar("T")
AsyncConnection = _AsyncConnection[Any]
_UUID_TEXT: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BIND: Final = sql.SQL("SELECT set_config({}, %s, true)").format(sql.Literal(OWNER_SETTING))
_BIND_QUERY: Final = _BIND.as_bytes(None)
# Rendered once: it is constant but for the owner, which psycopg binds client-side (see _begin_bound).
_BEGIN_BOUND: Final = sql.SQL("BEGIN; SELECT set_config({}, %s, true)").format(sql.Literal(OWNER_SETTING)).as_bytes()
# One client-side-binding cursor per connection, reused: creating one per transaction costs more than RLS.
_BINDERS: "weakref.WeakKeyDictionary[Connection, ClientCursor[Any]]" = weakref.WeakKeyDictionary()


def parse_id(value: object, what: str) -> uuid.UUID:
    """A UUID from a UUID or its canonical 36-character text; anything else is refused, unechoed."""
    if type(value) is uuid.UUID:
        return value
    if isinstance(value, str) and _UUID_TEXT.fullmatch(value):
        return uuid.UUID(value)
    raise InvalidOwnerError(f"{what} must be a UUID (36 characters, hex and hyphens)")


@dataclass(frozen=True, slots=True)
class OwnerScope:
    """Who acts (pseudonymous actor id), for which owner, under which request."""

    owner_id: uuid.UUID
    actor_id: uuid.UUID
    request_id: str

    def __post_init__(self) -> None:
        parse_id(self.owner_id, "owner_id")
        parse_id(self.actor_id, "actor_id")
        check_request_id(self.request_id)  # fail before a connection is taken, not at the audit append

    @classmethod
    def parse(cls, *, owner_id: object, actor_id: object, request_id: str) -> "OwnerScope":
        return cls(parse_id(owner_id, "owner_id"), parse_id(actor_id, "actor_id"), request_id)


class AuditSink(Protocol):
    """Where an owner transaction's access events go: runtime.db.ledger.AuditLedger."""

    def append(self, conn: Connection, events: Sequence[AccessEvent]) -> int: ...

    def queue_statement(self, events: Sequence[AccessEvent]) -> Statement: ...


@dataclass(frozen=True, slots=True)
class Member:
    """One request of a grouped transaction (runtime/db/groups.py): its accesses are audited as its own."""

    principal: OwnerScope
    record_id: uuid.UUID | None = None  # what a read asked for; None: a create's row, the group's index-th

    def share(self, index: int, row_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        if self.record_id is None:
            return list(row_ids[index : index + 1])
        return [self.record_id] if self.record_id in row_ids else []


class OwnerBound:
    """What a plan (runtime/db/plans.py) needs of an open owner transaction: who acts for which owner, and
    where its accesses are noted for the audit ledger. A grouped transaction (several requests of one owner)
    notes each access once per member, with the member's actor, request and share of the rows."""

    def __init__(self, principal: OwnerScope, members: Sequence[Member] = ()) -> None:
        if any(m.principal.owner_id != principal.owner_id for m in members):
            raise InvalidOwnerError("a grouped transaction's members must all act for its owner")
        self.principal = principal
        self.owner_key = str(principal.owner_id)  # the owner as the envelope's associated data names it
        self._members = tuple(members)
        self._events: list[AccessEvent] = []

    @property
    def owner_id(self) -> uuid.UUID:
        return self.principal.owner_id

    def record(self, action: Action, table: str, row_ids: Sequence[uuid.UUID], *, row_count: int = -1) -> None:
        """Note an access for the audit ledger; it is queued when the transaction commits."""
        if not self._members:
            self._note(self.principal, action, table, row_ids, row_count)
        for index, member in enumerate(self._members):
            self._note(member.principal, action, table, member.share(index, row_ids), row_count)

    def _note(self, p: OwnerScope, action: Action, table: str, row_ids: Sequence[uuid.UUID], row_count: int) -> None:
        self._events.append(AccessEvent(p.actor_id, p.owner_id, action, table, tuple(row_ids), p.request_id,
                                        row_count))

    @property
    def events(self) -> tuple[AccessEvent, ...]:
        return tuple(self._events)


class OwnerTransaction(OwnerBound):
    """An open transaction bound to one owner. Repositories use `connection` (or `run` a plan) and `record`
    every access."""

    def __init__(self, conn: Connection, principal: OwnerScope) -> None:
        super().__init__(principal)
        self._conn = conn

    @property
    def connection(self) -> Connection:
        return self._conn

    def run(self, plan: Plan[T]) -> T:
        return run(self._conn, plan)


class AsyncOwnerTransaction(OwnerBound):
    """The same on an async connection (the owner API's endpoints): `await tx.run(plan)`."""

    def __init__(self, conn: AsyncConnection, principal: OwnerScope, members: Sequence[Member] = ()) -> None:
        super().__init__(principal, members)
        self._conn = conn

    async def run(self, plan: Plan[T]) -> T:
        return await run_async(self._conn, plan)


def bind_owner(conn: Connection, owner_id: uuid.UUID) -> None:
    """Bind the owner for the current transaction only (is_local = true)."""
    conn.execute(_BIND, (str(parse_id(owner_id, "owner_id")),))


class Database:
    def __init__(self, connections: ConnectionSource, ledger: AuditSink) -> None:
        self._connections = connections
        self.ledger = ledger

    @contextmanager
    def owner_transaction(self, principal: OwnerScope) -> Iterator[OwnerTransaction]:
        if not isinstance(principal, OwnerScope):
            raise InvalidOwnerError("owner_transaction needs an OwnerScope")
        # translated(): a pool that lends no connection in time, or one that breaks, is a typed error too.
        with translated(), self._connections.connection() as conn:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                # Joining someone else's open transaction would mix owners and audit trails: refuse.
                raise DatabaseError("owner_transaction needs an idle connection; the one lent is in a transaction")
            was_autocommit = conn.autocommit
            # The transaction is driven by hand (BEGIN ... COMMIT) so that BEGIN and the owner binding
            # share one round trip; that needs autocommit mode, in which psycopg sends our BEGIN as is.
            # (Pool connections are in autocommit mode already: open_pool configures them so.)
            if not was_autocommit:
                conn.autocommit = True
            tx = OwnerTransaction(conn, principal)
            try:
                with translated():
                    _begin_bound(conn, principal.owner_id)
                    try:
                        yield tx
                        self.ledger.append(conn, tx.events)
                        conn.execute("COMMIT", prepare=False)
                    except BaseException:
                        _rollback_quietly(conn)
                        raise
            except BaseException as exc:
                self._record_reads_after_failure(conn, tx, exc)
                raise
            finally:
                if not was_autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                    conn.autocommit = False

    def _record_reads_after_failure(self, conn: Connection, tx: OwnerTransaction, exc: BaseException) -> None:
        owed = _owed_reads(self.ledger, tx, exc, connected=not conn.closed)
        if owed is not None:
            try:
                with translated():
                    conn.execute(owed.query, owed.params)  # one statement: a transaction of its own
            except Exception as audit_exc:
                _unaudited(exc, tx, audit_exc)


class AsyncDatabase:
    """Owner transactions on an async pool, for the owner API's endpoints (runtime/service/owner_api.py).

    The same contract as `Database.owner_transaction`: one owner bound for the transaction only, the
    accesses queued in the audit ledger in the same commit, reads still audited when it fails. Each
    transaction is ONE pipeline (psycopg's pipeline mode) ended by one Sync: PostgreSQL runs every statement
    before a Sync as a single implicit transaction, committed at the Sync if all succeeded and rolled back
    if any failed (the protocol's "Pipelining" section). So no BEGIN or COMMIT is sent: the owner's binding
    (set_config, is_local: it ends with the transaction), the record statements and the audit queue travel
    together, a write costs one round trip and a read two, and an endpoint waits on the database without a
    thread (no hand-off, no GIL convoy: issue 16). When the body raises, a ROLLBACK ends the implicit
    transaction before the Sync, so nothing it wrote commits.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], ledger: AuditSink) -> None:
        self.pool = pool  # not yet open (runtime.db.connect.async_pool): `open` it on the loop that uses it
        self.ledger = ledger

    async def open(self, *, timeout: float = 30.0) -> None:
        try:
            await self.pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            await self.pool.close()
            raise DatabaseUnavailableError(f"the pool {self.pool.name} could not open its connections in time"
                                           ) from None

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def owner_transaction(self, principal: OwnerScope, members: Sequence[Member] = ()
                                ) -> AsyncIterator[AsyncOwnerTransaction]:
        """`members`: the requests a grouped transaction serves (runtime/db/groups.py), each audited as itself."""
        if not isinstance(principal, OwnerScope):
            raise InvalidOwnerError("owner_transaction needs an OwnerScope")
        with translated():
            async with self.pool.connection() as conn:
                if conn.info.transaction_status != TransactionStatus.IDLE or not conn.autocommit:
                    # An explicit transaction would outlive the Sync: the statements would not commit with it.
                    raise DatabaseError("owner_transaction needs an idle connection in autocommit mode: "
                                        "open the pool with runtime.db.connect.async_pool")
                tx = AsyncOwnerTransaction(conn, principal, members)
                try:
                    async with conn.pipeline():
                        await conn.execute(_BIND_QUERY, (str(principal.owner_id),))
                        try:
                            yield tx
                        except BaseException:
                            with suppress(psycopg.Error):  # a failed statement has aborted it already
                                await conn.execute(b"ROLLBACK", prepare=False)
                            raise
                        if tx.events:
                            queued = self.ledger.queue_statement(tx.events)
                            await conn.execute(queued.query, queued.params)
                except BaseException as exc:
                    await self._record_reads_after_failure(conn, tx, exc)
                    raise

    async def _record_reads_after_failure(self, conn: AsyncConnection, tx: OwnerBound, exc: BaseException) -> None:
        owed = _owed_reads(self.ledger, tx, exc, connected=not conn.closed)
        if owed is not None:
            try:
                with translated():
                    await conn.execute(owed.query, owed.params)  # one statement: a transaction of its own
            except Exception as audit_exc:
                _unaudited(exc, tx, audit_exc)


def _reads(tx: OwnerBound) -> list[AccessEvent]:
    """What a failed transaction still owes the ledger: the rows that left the database."""
    return [e for e in tx.events if e.action in (Action.READ, Action.EXPORT)]


def _owed_reads(ledger: AuditSink, tx: OwnerBound, exc: BaseException, *, connected: bool) -> Statement | None:
    """The statement that queues a failed transaction's reads, run in autocommit mode after it; None when it
    read nothing, or when the connection is lost (then `exc` says so)."""
    reads = _reads(tx)
    if reads and not connected:
        exc.add_note(f"{len(reads)} read event(s) could not be audited: the connection was lost")
    return ledger.queue_statement(reads) if reads and connected else None


def _unaudited(exc: BaseException, tx: OwnerBound, audit_exc: Exception) -> None:
    # The original error still propagates; say what was lost.
    exc.add_note(f"{len(_reads(tx))} read event(s) could not be written to the audit ledger: {audit_exc}")


def _rollback_quietly(conn: Connection) -> None:
    """Roll back if a transaction is open; a broken connection is left to the pool to discard, and the
    error that caused the rollback is the one that propagates."""
    if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        with suppress(psycopg.Error):
            conn.execute("ROLLBACK", prepare=False)


def _begin_bound(conn: Connection, owner_id: uuid.UUID) -> None:
    """BEGIN and bind the owner in one round trip. The owner is still a parameter: psycopg's client-side
    binding quotes it as a literal (and it is a validated UUID before that)."""
    binder = _BINDERS.get(conn)
    if binder is None or binder.closed:
        binder = _BINDERS[conn] = ClientCursor(conn)
    binder.execute(_BEGIN_BOUND, (str(parse_id(owner_id, "owner_id")),))
