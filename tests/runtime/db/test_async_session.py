"""The owner API's async transactions (runtime.db.session.AsyncDatabase): one pipeline per transaction,
committed by its Sync as one implicit transaction. The data and its audit event commit together or not at
all, whether a statement fails or the body raises; the owner's binding ends with the transaction; reads are
still audited when the transaction fails."""

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from psycopg import sql

from runtime.audit.events import Action
from runtime.db import OwnerScope, Records
from runtime.db.connect import async_pool
from runtime.db.ledger import AuditLedger
from runtime.db.plans import Plan, Statement
from runtime.db.schema import APP_ROLE, owner_column
from runtime.db.session import AsyncDatabase
from runtime.errors import DatabaseError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres
T = TypeVar("T")


def _run(platform_db: PlatformDatabase, work: Callable[[AsyncDatabase], Coroutine[Any, Any, T]]) -> T:
    """`work` on a fresh one-connection async pool (the same server session every time)."""

    async def main() -> T:
        settings = platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=1)
        database = AsyncDatabase(async_pool(settings, platform_db.password(APP_ROLE), name="test-async"),
                                 AuditLedger())
        await database.open()
        try:
            return await work(database)
        finally:
            await database.close()

    return asyncio.run(main())


def _stored(platform_db: PlatformDatabase, owner: uuid.UUID) -> tuple[int, list[str]]:
    """(model_calls rows, audit actions) of `owner`, as the database holds them."""
    with platform_db.admin() as admin:
        query = sql.SQL("SELECT count(*) FROM platform.model_calls WHERE {} = %s").format(
            sql.Identifier(owner_column("model_calls")))
        [(rows,)] = admin.execute(query, (owner,)).fetchall()
        actions = [a for (a,) in admin.execute(
            "SELECT fields->>'action' FROM platform.audit_events WHERE owner_id = %s ORDER BY id", (owner,))]
    return rows, actions


def _failing() -> Plan[None]:
    yield Statement(b"SELECT 1 / 0", rows=False)


ROW = {"model": b"m-1", "input": b"hello"}


def test_a_write_and_its_audit_event_commit_together(platform_db: PlatformDatabase, records: Records,
                                                       make_owner: Callable[[], OwnerScope]) -> None:
    owner = make_owner()

    async def write(database: AsyncDatabase) -> list[uuid.UUID]:
        async with database.owner_transaction(owner) as tx:
            ids = await tx.run(records.insert_plan(tx, "model_calls", [ROW]))
        async with database.owner_transaction(owner) as tx:
            [found] = await tx.run(records.get_plan(tx, "model_calls", ids))
        assert found.values["input"] is not None and found.values["input"].reveal() == b"hello"
        return ids

    _run(platform_db, write)
    assert _stored(platform_db, owner.owner_id) == (1, [Action.WRITE.value, Action.WRITE.value, Action.READ.value])


def test_a_body_that_raises_after_a_write_stores_nothing(platform_db: PlatformDatabase, records: Records,
                                                           make_owner: Callable[[], OwnerScope]) -> None:
    """Without the ROLLBACK the Sync would commit the insert, without its audit event."""
    owner = make_owner()

    async def write_then_fail(database: AsyncDatabase) -> None:
        with pytest.raises(ValueError, match="after the write"):
            async with database.owner_transaction(owner) as tx:
                await tx.run(records.insert_plan(tx, "model_calls", [ROW]))
                raise ValueError("after the write")

    _run(platform_db, write_then_fail)
    assert _stored(platform_db, owner.owner_id) == (0, [Action.WRITE.value])  # the organisation's row only


def test_a_failed_statement_is_a_typed_error_and_stores_nothing(platform_db: PlatformDatabase, records: Records,
                                                                  make_owner: Callable[[], OwnerScope]) -> None:
    owner = make_owner()

    async def write_then_bad_statement(database: AsyncDatabase) -> None:
        with pytest.raises(DatabaseError):
            async with database.owner_transaction(owner) as tx:
                await tx.run(records.insert_plan(tx, "model_calls", [ROW]))
                await tx.run(_failing())  # its error surfaces at the Sync, as the transaction ends
        async with database.owner_transaction(owner) as tx:  # the connection serves the next one
            await tx.run(records.insert_plan(tx, "model_calls", [ROW]))

    _run(platform_db, write_then_bad_statement)
    assert _stored(platform_db, owner.owner_id) == (1, [Action.WRITE.value, Action.WRITE.value])


def test_reads_of_a_failed_transaction_are_still_audited(platform_db: PlatformDatabase, records: Records,
                                                          make_owner: Callable[[], OwnerScope]) -> None:
    owner = make_owner()

    async def read_then_fail(database: AsyncDatabase) -> None:
        async with database.owner_transaction(owner) as tx:
            ids = await tx.run(records.insert_plan(tx, "model_calls", [ROW]))
        with pytest.raises(ValueError):
            async with database.owner_transaction(owner) as tx:
                await tx.run(records.get_plan(tx, "model_calls", ids))
                raise ValueError("after the read")

    _run(platform_db, read_then_fail)
    assert _stored(platform_db, owner.owner_id) == (1, [Action.WRITE.value, Action.WRITE.value, Action.READ.value])


def test_the_owner_binding_ends_with_the_transaction(platform_db: PlatformDatabase, records: Records,
                                                      make_owner: Callable[[], OwnerScope]) -> None:
    """The pool has no reset round trip: the binding is transaction-local, so the next borrower of the same
    server session (one connection) finds none, and sees no row."""
    owner = make_owner()

    async def bound_then_unbound(database: AsyncDatabase) -> tuple[Any, Any, Any]:
        async with database.owner_transaction(owner) as tx:
            await tx.run(records.insert_plan(tx, "model_calls", [ROW]))
        async with database.pool.connection() as conn:
            setting = await (await conn.execute("SELECT current_setting('platform.owner_id', true)")).fetchone()
            visible = await (await conn.execute("SELECT count(*) FROM platform.model_calls")).fetchone()
            return setting, visible, conn.info.transaction_status.name

    setting, visible, status = _run(platform_db, bound_then_unbound)
    assert setting in (None, ("",), (None,)) and visible == (0,) and status == "IDLE"
