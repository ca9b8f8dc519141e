"""Group commit for the owner API's single-record creates and reads by id (issue 16's request-path CPU).

    groups = OwnerGroups(database, records, key_ready)
    row_id = await groups.insert(principal, "model_calls", row)
    record = await groups.get(principal, "model_calls", record_id)   # None: not visible to this owner

Requests of ONE organisation and table that arrive while its previous group is still in the database wait
for it to finish and then go together: one owner transaction, one INSERT (or one SELECT ... = ANY) and one
audit statement for all of them. Each request's access is still audited as its own (its actor, its request
id, its rows: runtime.db.session.Member), in the same commit as the data. Another organisation never
shares a group or waits for one: groups are keyed by owner, so writers of different organisations still
meet no lock. With no concurrent request of the organisation, a group is one request and costs what a
plain transaction costs. When a group's transaction fails, each of its requests gets that typed error.

A group has at most MAX_GROUP requests (a batch endpoint call stays its own transaction).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from runtime.db.records import Record, Records
from runtime.db.session import AsyncDatabase, Member, OwnerScope

MAX_GROUP: Final = 64
# key_ready(principal, uses, create): the organisation's data key cached before the transaction (the owner API
# loads it in a worker thread when it is not), so sealing and decrypting never wait on the event loop.
KeyReady = Callable[[OwnerScope, int, bool], Awaitable[None]]


@dataclass(slots=True)
class _Request:
    member: Member
    row: Mapping[str, object] | None  # a create's row; None for a read
    answer: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class OwnerGroups:
    def __init__(self, database: AsyncDatabase, records: Records, key_ready: KeyReady) -> None:
        self._database = database
        self._records = records
        self._key_ready = key_ready
        self._waiting: dict[tuple[str, uuid.UUID, str], list[_Request]] = {}  # present while its group runs
        self._running: set[asyncio.Task[None]] = set()

    async def insert(self, principal: OwnerScope, table: str, row: Mapping[str, object]) -> uuid.UUID:
        """Store one row of the principal's organisation; its new id."""
        answer: uuid.UUID = await self._submit("insert", table, _Request(Member(principal), row))
        return answer

    async def get(self, principal: OwnerScope, table: str, record_id: uuid.UUID) -> Record | None:
        """The record, decrypted, if the principal's organisation can see it; None otherwise."""
        answer: Record | None = await self._submit("get", table, _Request(Member(principal, record_id), None))
        return answer

    def _submit(self, kind: str, table: str, request: _Request) -> asyncio.Future[Any]:
        key = (kind, request.member.principal.owner_id, table)
        waiting = self._waiting.get(key)
        if waiting is None:  # no group of this key runs: start one (it starts on the loop's next turn)
            self._waiting[key] = [request]
            task = asyncio.get_running_loop().create_task(self._drain(key))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        else:
            waiting.append(request)
        return request.answer

    async def _drain(self, key: tuple[str, uuid.UUID, str]) -> None:
        kind, _, table = key
        run = self._insert_group if kind == "insert" else self._get_group
        while True:
            waiting = self._waiting[key]
            if not waiting:
                del self._waiting[key]
                return
            group, self._waiting[key] = waiting[:MAX_GROUP], waiting[MAX_GROUP:]
            try:
                answers = await run(table, group)
            except BaseException as exc:  # every request of the group gets the group's error
                for request in group:
                    if not request.answer.done():
                        request.answer.set_exception(exc)
                if not isinstance(exc, Exception):  # cancelled: the loop is closing; fail whoever still waits
                    for request in self._waiting.pop(key, []):
                        request.answer.cancel()
                    raise
                continue
            for request, answer in zip(group, answers, strict=True):
                if not request.answer.done():  # its client may have gone: the answer is dropped
                    request.answer.set_result(answer)

    async def _insert_group(self, table: str, group: Sequence[_Request]) -> list[uuid.UUID]:
        rows = [r.row for r in group if r.row is not None]
        lead = group[0].member.principal
        await self._key_ready(lead, sum(map(len, rows)), True)
        members = [r.member for r in group]
        async with self._database.owner_transaction(lead, members) as tx:
            return await tx.run(self._records.insert_plan(tx, table, rows))

    async def _get_group(self, table: str, group: Sequence[_Request]) -> list[Record | None]:
        lead = group[0].member.principal
        await self._key_ready(lead, 1, False)
        members = [r.member for r in group]
        wanted = list(dict.fromkeys(m.record_id for m in members if m.record_id is not None))
        async with self._database.owner_transaction(lead, members) as tx:
            found = {r.id: r for r in await tx.run(self._records.get_plan(tx, table, wanted))}
        return [found.get(m.record_id) if m.record_id is not None else None for m in members]
