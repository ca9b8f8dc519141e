"""Database work written once, run by a sync or an async connection: a plan is a generator of statements.

    def count_plan(table) -> Plan[int]:
        [(n,)] = yield Statement(b"SELECT count(*) FROM ...", [], rows=True)
        return n

    run(conn, count_plan(...))                # psycopg.Connection: jobs, CLI, sync routes
    await run_async(aconn, count_plan(...))   # psycopg.AsyncConnection: the owner API's endpoints

A plan yields each `Statement` and receives its rows (a list of tuples) when it asked for them, else None.
A statement that asks for no rows lets an async connection in pipeline mode send it without waiting for
its answer: a whole write (the owner's binding, the insert, the audit queue, the Sync that commits them)
then costs one round trip; a statement's error surfaces at the transaction's end, still as a typed error.
"""

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from runtime.db.errors import translated

T = TypeVar("T")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Statement:
    query: bytes  # rendered once and reused (runtime.db.records caches them): composing SQL costs more than RLS
    params: Sequence[object] | dict[str, object] = ()
    rows: bool = False  # the plan needs the answer's rows
    binary: bool = False  # ask for binary results (bytea and uuid without text round trips)


Plan = Generator[Statement, Rows | None, T]


def run(conn: psycopg.Connection[Any], plan: Plan[T]) -> T:
    """Run `plan` on a sync connection, statement by statement."""
    answer: Rows | None = None
    with translated():
        while True:
            try:
                statement = plan.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            cursor = conn.execute(statement.query, statement.params, binary=statement.binary)
            answer = cursor.fetchall() if statement.rows else None


async def run_async(conn: psycopg.AsyncConnection[Any], plan: Plan[T]) -> T:
    """Run `plan` on an async connection; in pipeline mode only statements whose rows are needed wait."""
    answer: Rows | None = None
    with translated():
        while True:
            try:
                statement = plan.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            cursor = await conn.execute(statement.query, statement.params, binary=statement.binary)
            answer = await cursor.fetchall() if statement.rows else None
