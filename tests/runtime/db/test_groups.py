"""Group commit (runtime.db.groups): concurrent single creates and reads of one organisation share a
transaction, yet each request gets its own answer and its own audit event; organisations never share one;
a failed group fails each of its requests with the typed error."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import _AsyncGeneratorContextManager
from typing import Any

import pytest
from psycopg import sql

from runtime.audit.events import Action
from runtime.db import OwnerScope, Records
from runtime.db.connect import async_pool
from runtime.db.groups import OwnerGroups
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, owner_column
from runtime.db.session import AsyncDatabase, AsyncOwnerTransaction, Member
from runtime.errors import DatabaseError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres
CONCURRENT = 8


class CountingDatabase(AsyncDatabase):
    """Counts the owner transactions per owner."""

    transactions: dict[uuid.UUID, int]

    def owner_transaction(self, principal: OwnerScope, members: Any = ()
                          ) -> _AsyncGeneratorContextManager[AsyncOwnerTransaction]:
        self.transactions[principal.owner_id] = self.transactions.get(principal.owner_id, 0) + 1
        return super().owner_transaction(principal, members)


async def _ready(principal: OwnerScope, uses: int, create: bool) -> None:
    """The test cipher loads keys on demand (its store is the database): nothing to do before."""


def _run(platform_db: PlatformDatabase, records: Records, work: Callable[[OwnerGroups], Any]) -> Any:
    async def main() -> Any:
        settings = platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=4)
        database = CountingDatabase(async_pool(settings, platform_db.password(APP_ROLE), name="test-groups"),
                                    AuditLedger())
        database.transactions = {}
        await database.open()
        try:
            return await work(OwnerGroups(database, records, _ready)), database.transactions
        finally:
            await database.close()

    return asyncio.run(main())


def _principals(owner: OwnerScope, count: int) -> list[OwnerScope]:
    """Different users (actors) of one organisation, each with a request of its own."""
    return [OwnerScope(owner.owner_id, uuid.uuid4(), f"req-group-{i}") for i in range(count)]


def _audited(platform_db: PlatformDatabase, owner: uuid.UUID, action: Action) -> dict[str, tuple[str, list[str]]]:
    """request id -> (actor, row ids) of the owner's audit events of `action`."""
    with platform_db.admin() as admin:
        rows = admin.execute(
            "SELECT actor_id, fields FROM platform.audit_events WHERE owner_id = %s AND fields->>'action' = %s",
            (owner, action.value)).fetchall()
    return {f["request_id"]: (str(a), f["row_ids"]) for a, f in rows}


def test_concurrent_creates_share_a_transaction_and_are_each_audited(
        platform_db: PlatformDatabase, records: Records, make_owner: Callable[[], OwnerScope]) -> None:
    owner = make_owner()
    principals = _principals(owner, CONCURRENT)

    async def create(groups: OwnerGroups) -> list[uuid.UUID]:
        return await asyncio.gather(*(groups.insert(p, "model_calls", {"input": f"call {i}".encode()})
                                      for i, p in enumerate(principals)))

    ids, transactions = _run(platform_db, records, create)
    assert len(set(ids)) == CONCURRENT
    assert transactions[owner.owner_id] < CONCURRENT  # grouped: the first alone, the others together
    audited = _audited(platform_db, owner.owner_id, Action.WRITE)
    for principal, row_id in zip(principals, ids, strict=True):
        assert audited[principal.request_id] == (str(principal.actor_id), [str(row_id)])
    with platform_db.admin() as admin:
        count = admin.execute(sql.SQL("SELECT count(*) FROM platform.model_calls WHERE {} = %s").format(
            sql.Identifier(owner_column("model_calls"))), (owner.owner_id,)).fetchone()
    assert count == (CONCURRENT,)


def test_concurrent_reads_each_get_their_record_and_nothing_of_another_organisation(
        platform_db: PlatformDatabase, records: Records, make_owner: Callable[[], OwnerScope]) -> None:
    owner, other = make_owner(), make_owner()
    principals = _principals(owner, CONCURRENT)

    async def create_then_read(groups: OwnerGroups) -> tuple[list[uuid.UUID], list[Any]]:
        ids = [await groups.insert(owner, "model_calls", {"input": f"call {i}".encode()})
               for i in range(CONCURRENT - 1)]
        foreign = await groups.insert(other, "model_calls", {"input": b"another organisation's"})
        wanted = [*ids, foreign]  # the last reader asks for the other organisation's record
        found = await asyncio.gather(*(groups.get(p, "model_calls", i) for p, i in zip(principals, wanted,
                                                                                        strict=True)))
        return wanted, found

    (wanted, found), transactions = _run(platform_db, records, create_then_read)
    for i, (row_id, record) in enumerate(zip(wanted[:-1], found[:-1], strict=True)):
        assert record is not None and record.id == row_id and record.values["input"].reveal() == f"call {i}".encode()
    assert found[-1] is None  # row-level security: it is not there for this organisation
    audited = _audited(platform_db, owner.owner_id, Action.READ)
    for principal, row_id in zip(principals[:-1], wanted[:-1], strict=True):
        assert audited[principal.request_id] == (str(principal.actor_id), [str(row_id)])
    assert audited[principals[-1].request_id] == (str(principals[-1].actor_id), [])
    assert transactions[owner.owner_id] < 2 * CONCURRENT - 1
    assert transactions[other.owner_id] == 1  # its own, never another organisation's group


def test_a_failed_group_fails_each_request_with_the_typed_error(
        platform_db: PlatformDatabase, records: Records, make_owner: Callable[[], OwnerScope]) -> None:
    owner = make_owner()
    principals = _principals(owner, 3)

    async def create(groups: OwnerGroups) -> list[Any]:
        # A reference to no prompt breaks the foreign key: the database refuses the group's INSERT.
        return await asyncio.gather(*(groups.insert(p, "model_calls", {"input": b"x", "prompt_id": uuid.uuid4()})
                                      for p in principals), return_exceptions=True)

    answers, _ = _run(platform_db, records, create)
    assert all(isinstance(a, DatabaseError) for a in answers), answers
    assert _audited(platform_db, owner.owner_id, Action.WRITE).keys() <= {owner.request_id}


def test_a_member_must_act_for_the_transactions_owner(make_owner: Callable[[], OwnerScope]) -> None:
    from runtime.db.session import OwnerBound
    from runtime.errors import InvalidOwnerError

    owner, other = make_owner(), make_owner()
    with pytest.raises(InvalidOwnerError):
        OwnerBound(owner, [Member(owner), Member(other)])
