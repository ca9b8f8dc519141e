"""P3: owner A can't read, change or delete owner B's rows by ANY query the application role can send,
and with no owner bound nothing is visible at all (fail closed)."""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from runtime.db import Database, OwnerScope, Records
from runtime.db.errors import translated
from runtime.db.schema import RECORD_TABLES
from runtime.db.session import bind_owner
from runtime.errors import (
    DatabaseError,
    IntegrityViolationError,
    InvalidOwnerError,
    InvalidValueError,
    PermissionDeniedError,
    RowLevelSecurityError,
)

pytestmark = pytest.mark.postgres


class OneConnection:
    """A connection source that lends one given connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        yield self._conn

INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE platform.prompts; --",
    "00000000-0000-0000-0000-00000000000g",
    "",
    "*",
    "{12345678-1234-1234-1234-123456789abc}",
    "12345678-1234-1234-1234-123456789abc' OR true --",
]


class _RollBack(Exception):
    pass


@dataclass
class Tenant:
    principal: OwnerScope
    prompt_ids: list[uuid.UUID]
    call_ids: list[uuid.UUID]


@pytest.fixture
def tenants(make_owner: Callable[[], OwnerScope], database: Database, records: Records) -> tuple[Tenant, Tenant]:
    made = []
    for _ in range(2):
        principal = make_owner()
        with database.owner_transaction(principal) as tx:
            prompts = records.insert(tx, "prompts", [{"body": b"prompt one"}, {"body": b"prompt two"}])
            calls = records.insert(tx, "model_calls", [{"input": b"hi", "prompt_id": prompts[0]}])
            records.insert(tx, "users", [{"email": b"someone@example.com"}])
        made.append(Tenant(principal, prompts, calls))
    return made[0], made[1]


@contextmanager
def bound(app_pool: ConnectionPool, owner: uuid.UUID | None) -> Iterator[psycopg.Connection[Any]]:
    """A raw application-role transaction, owner bound (or not): any SQL a buggy or hijacked app could send."""
    with app_pool.connection() as conn, translated(), conn.transaction():
        if owner is not None:
            bind_owner(conn, owner)
        yield conn


def _count_as_superuser(admin: psycopg.Connection[Any], table: str, owner: uuid.UUID) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE owner_id = %s").format(sql.Identifier("platform", table))
    row = admin.execute(query, (owner,)).fetchone()
    assert row is not None
    return int(row[0])


def test_rls_owner_reads_only_its_own_rows(tenants: tuple[Tenant, Tenant], database: Database,
                                           records: Records) -> None:
    a, _ = tenants
    with database.owner_transaction(a.principal) as tx:
        rows = records.newest(tx, "prompts")
    assert {r.id for r in rows} == set(a.prompt_ids)
    assert {r.owner_id for r in rows} == {a.principal.owner_id}


def test_rls_other_owners_ids_read_nothing(tenants: tuple[Tenant, Tenant], database: Database,
                                           records: Records) -> None:
    a, b = tenants
    with database.owner_transaction(a.principal) as tx:
        assert records.get(tx, "prompts", b.prompt_ids) == []
        assert records.get(tx, "model_calls", b.call_ids) == []
        assert records.update(tx, "prompts", b.prompt_ids[0], {"body": b"overwritten"}) is False
        assert records.delete(tx, "prompts", b.prompt_ids) == 0


@pytest.mark.parametrize(
    "query",
    [
        "SELECT owner_id FROM platform.prompts WHERE owner_id = %(b)s",
        "SELECT owner_id FROM platform.prompts WHERE owner_id = %(b)s OR true",
        "SELECT owner_id FROM platform.prompts WHERE id = ANY(%(b_ids)s)",
        "SELECT p.owner_id FROM platform.prompts p JOIN platform.model_calls m ON m.prompt_id = p.id",
        "SELECT owner_id FROM platform.prompts UNION ALL SELECT owner_id FROM platform.users "
        "UNION ALL SELECT id FROM platform.organisations UNION ALL SELECT owner_id FROM platform.data_keys",
        "WITH RECURSIVE r AS (SELECT owner_id FROM platform.prompts WHERE owner_id = %(b)s) SELECT * FROM r",
        "SELECT owner_id FROM platform.prompts WHERE owner_id::text LIKE '%%'",
        "SELECT owner_id FROM platform.prompts WHERE (SELECT count(*) FROM platform.prompts) >= 0",
        "SELECT owner_id FROM platform.model_calls WHERE prompt_id = ANY(%(b_ids)s) OR owner_id = %(b)s",
    ],
)
def test_rls_crafted_reads_by_app_role_see_no_foreign_rows(
    tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool, query: str
) -> None:
    a, b = tenants
    params = {"b": b.principal.owner_id, "b_ids": b.prompt_ids}
    with bound(app_pool, a.principal.owner_id) as conn:
        seen = {row[0] for row in conn.execute(query, params).fetchall()}
    assert seen <= {a.principal.owner_id}


def test_rls_copy_out_shows_only_own_rows(tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool) -> None:
    a, b = tenants
    with (
        bound(app_pool, a.principal.owner_id) as conn,
        conn.cursor() as cur,
        cur.copy("COPY (SELECT owner_id FROM platform.prompts) TO STDOUT") as copy,
    ):
        out = b"".join(bytes(chunk) for chunk in copy).decode().split()
    assert out == [str(a.principal.owner_id)] * 2
    assert str(b.principal.owner_id) not in out


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE platform.prompts SET body = body WHERE owner_id = %(b)s",
        "UPDATE platform.prompts SET body = body WHERE id = ANY(%(b_ids)s)",
        "DELETE FROM platform.prompts WHERE owner_id = %(b)s",
        "DELETE FROM platform.model_calls",
        "DELETE FROM platform.users WHERE true",
        "UPDATE platform.organisations SET name = name WHERE id = %(b)s",
    ],
)
def test_rls_crafted_writes_leave_foreign_rows_untouched(
    tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool, platform_db: Any, statement: str
) -> None:
    a, b = tenants
    params = {"b": b.principal.owner_id, "b_ids": b.prompt_ids}
    with pytest.raises(_RollBack), bound(app_pool, a.principal.owner_id) as conn:
        conn.execute(statement, params)
        raise _RollBack  # A's own rows may have matched; only B's matter here
    with platform_db.admin() as admin:
        assert _count_as_superuser(admin, "prompts", b.principal.owner_id) == 2
        assert _count_as_superuser(admin, "model_calls", b.principal.owner_id) == 1
        assert _count_as_superuser(admin, "users", b.principal.owner_id) == 1


def test_rls_insert_for_another_owner_refused(tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool) -> None:
    a, b = tenants
    envelope = b"\x01" + b"\x00" * 100
    with pytest.raises(RowLevelSecurityError, match="another owner"), bound(app_pool, a.principal.owner_id) as conn:
        conn.execute(
            "INSERT INTO platform.prompts (owner_id, id, body) VALUES (%s, %s, %s)",
            (b.principal.owner_id, uuid.uuid4(), envelope),
        )


def test_rls_update_moving_own_row_to_another_owner_refused(tenants: tuple[Tenant, Tenant],
                                                            app_pool: ConnectionPool) -> None:
    a, b = tenants
    with pytest.raises(RowLevelSecurityError), bound(app_pool, a.principal.owner_id) as conn:
        conn.execute("UPDATE platform.prompts SET owner_id = %s WHERE id = %s", (b.principal.owner_id, a.prompt_ids[0]))


def test_rls_reference_to_another_owners_row_refused(tenants: tuple[Tenant, Tenant], database: Database,
                                                     records: Records) -> None:
    a, b = tenants
    with pytest.raises(IntegrityViolationError), database.owner_transaction(a.principal) as tx:
        records.insert(tx, "model_calls", [{"input": b"x", "prompt_id": b.prompt_ids[0]}])


@pytest.mark.parametrize("table", [*sorted(RECORD_TABLES), "data_keys"])
def test_rls_no_owner_bound_reads_nothing(tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool,
                                          table: str) -> None:
    with bound(app_pool, None) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("platform", table))
        assert conn.execute(query).fetchone() == (0,)


def test_rls_no_owner_bound_writes_nothing(app_pool: ConnectionPool) -> None:
    with pytest.raises(RowLevelSecurityError), bound(app_pool, None) as conn:
        conn.execute(
            "INSERT INTO platform.organisations (id, name) VALUES (%s, %s)", (uuid.uuid4(), b"\x01" + bytes(100))
        )


def test_rls_binding_ends_with_its_transaction(tenants: tuple[Tenant, Tenant], database: Database,
                                               app_pool: ConnectionPool) -> None:
    a, _ = tenants
    with app_pool.connection() as conn:
        on_this_connection = Database(OneConnection(conn), database.ledger)
        with on_this_connection.owner_transaction(a.principal) as tx:
            assert tx.connection.execute("SELECT count(*) FROM platform.prompts").fetchone() == (2,)
        with conn.transaction():
            assert conn.execute("SELECT count(*) FROM platform.prompts").fetchone() == (0,)


@pytest.mark.parametrize("crafted", INJECTIONS)
def test_rls_crafted_owner_id_refused_before_any_sql(crafted: str) -> None:
    with pytest.raises(InvalidOwnerError) as raised:
        OwnerScope.parse(owner_id=crafted, actor_id=str(uuid.uuid4()), request_id="r1")
    if crafted:
        assert crafted not in str(raised.value)  # refused values are never echoed


@pytest.mark.parametrize("crafted", INJECTIONS[:3])
def test_rls_crafted_setting_value_fails_closed(tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool,
                                                crafted: str) -> None:
    """Even an app that skipped validation and bound a crafted string gets an error, not rows."""
    with pytest.raises(InvalidValueError), bound(app_pool, None) as conn:
        conn.execute("SELECT set_config('platform.owner_id', %s, true)", (crafted,))
        conn.execute("SELECT count(*) FROM platform.prompts").fetchone()


def test_rls_injection_strings_in_values_stay_data(tenants: tuple[Tenant, Tenant], database: Database,
                                                   records: Records, platform_db: Any) -> None:
    a, b = tenants
    payload = b"'); DELETE FROM platform.prompts; --"
    with database.owner_transaction(a.principal) as tx:
        [row_id] = records.insert(tx, "prompts", [{"body": payload}])
        [row] = records.get(tx, "prompts", [row_id])
    body = row.values["body"]
    assert body is not None and body.reveal() == payload
    with platform_db.admin() as admin:
        assert _count_as_superuser(admin, "prompts", b.principal.owner_id) == 2


def test_rls_row_security_off_refused_not_bypassed(tenants: tuple[Tenant, Tenant], app_pool: ConnectionPool) -> None:
    a, _ = tenants
    with pytest.raises(PermissionDeniedError), bound(app_pool, a.principal.owner_id) as conn:
        conn.execute("SET LOCAL row_security = off")
        conn.execute("SELECT count(*) FROM platform.prompts").fetchone()


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE platform.prompts DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE platform.prompts NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY owner_only ON platform.prompts",
        "CREATE POLICY open ON platform.prompts USING (true)",
        "SET ROLE platform_owner",
        "SET SESSION AUTHORIZATION postgres",
        "TRUNCATE platform.prompts",
        "CREATE FUNCTION platform.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TABLE public.copy AS SELECT 1",
        "ALTER FUNCTION platform.current_owner() RENAME TO x",
    ],
)
def test_rls_app_role_cannot_switch_the_rules_off(app_pool: ConnectionPool, statement: str) -> None:
    with pytest.raises(PermissionDeniedError), bound(app_pool, uuid.uuid4()) as conn:
        conn.execute(statement)


def test_owner_transaction_on_a_busy_connection_refused(tenants: tuple[Tenant, Tenant], database: Database,
                                                        app_pool: ConnectionPool) -> None:
    a, b = tenants
    with app_pool.connection() as conn, conn.transaction():
        bind_owner(conn, b.principal.owner_id)
        lent = Database(OneConnection(conn), database.ledger)
        with pytest.raises(DatabaseError, match="idle connection"), lent.owner_transaction(a.principal):
            pass
