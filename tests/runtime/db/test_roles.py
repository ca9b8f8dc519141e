"""Roles: least privilege per role; support reads NOT_SENSITIVE views only (P4); the ledger is append-only."""

import secrets
import uuid
from collections.abc import Callable, Iterator

import pytest
from psycopg import sql

from runtime.classification import DataClass
from runtime.db import OwnerScope, StaticPassword, bootstrap_roles, connect
from runtime.db.errors import translated
from runtime.db.roles import ALL_ROLES
from runtime.db.schema import (
    APP_ROLE,
    DATABASE_REGISTRY,
    DRILL_ROLE,
    JOBS_ROLE,
    OWNER_ROLE,
    SERVICE_ROLES,
    SUPPORT_ROLE,
)
from runtime.errors import PermissionDeniedError, SchemaError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

SENSITIVE_TABLES = sorted(t.name for t in DATABASE_REGISTRY if t.data_class is DataClass.SENSITIVE)
PLATFORM_TABLES = sorted(t.name for t in DATABASE_REGISTRY)
SUPPORT_VIEWS = ["audit_events", "audit_chain_head", "audit_checkpoints", "telemetry_events"]


def _select(table: str, schema: str = "platform") -> sql.Composed:
    return sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, table))


@pytest.mark.parametrize("table", PLATFORM_TABLES)
def test_support_role_any_platform_table_permission_denied(platform_db: PlatformDatabase, table: str) -> None:
    """Support reaches nothing in the platform schema, SENSITIVE or not: only the views (P4)."""
    with platform_db.connect(SUPPORT_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute(_select(table))


@pytest.mark.parametrize("view", SUPPORT_VIEWS)
def test_support_role_not_sensitive_views_readable(platform_db: PlatformDatabase, view: str) -> None:
    with platform_db.connect(SUPPORT_ROLE) as conn:
        conn.execute(_select(view, "support")).fetchall()


def test_support_role_views_are_read_only(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(SUPPORT_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute("DELETE FROM support.audit_events")


def test_support_role_sees_every_owners_audit_events(platform_db: PlatformDatabase,
                                                     make_owner: Callable[[], OwnerScope]) -> None:
    """NOT_SENSITIVE data is not owner-scoped: support investigates across owners (P4, P12)."""
    principal = make_owner()
    with platform_db.connect(SUPPORT_ROLE) as conn:
        rows = conn.execute("SELECT 1 FROM support.audit_events WHERE owner_id = %s", (principal.owner_id,))
        assert rows.fetchall()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM platform.audit_events",
        "UPDATE platform.audit_events SET event = 'x'",
        "DELETE FROM platform.audit_events",
        "TRUNCATE platform.audit_events",
        "DELETE FROM platform.audit_checkpoints",
        "UPDATE platform.data_keys SET wrapped_key = wrapped_key",
        "DELETE FROM platform.data_keys",
    ],
)
def test_app_role_cannot_read_or_rewrite_the_ledger_or_keys(platform_db: PlatformDatabase, statement: str) -> None:
    with platform_db.connect(APP_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute(statement)


@pytest.mark.parametrize("statement", ["UPDATE platform.audit_events SET event = 'x'",
                                       "DELETE FROM platform.audit_events", "TRUNCATE platform.audit_events"])
def test_audit_ledger_append_only_even_for_its_owner(fresh_db: PlatformDatabase, statement: str) -> None:
    with fresh_db.connect(OWNER_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute("INSERT INTO platform.audit_events (id, at, event, actor_id, owner_id, fields, prev_hash, hash, "
                     "seq) VALUES (1, now(), 'e', %s, %s, '{}', '', '', 1)",
                     (uuid.uuid4(), uuid.uuid4()))
        conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO platform.prompts (owner_id, id, body) VALUES (gen_random_uuid(), gen_random_uuid(), '')",
     "UPDATE platform.prompts SET body = body", "SELECT * FROM platform.telemetry_events"],
)
def test_jobs_role_reads_and_deletes_only(platform_db: PlatformDatabase, statement: str) -> None:
    with platform_db.connect(JOBS_ROLE) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute(statement)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_roles_never_superuser_bypassrls_or_createrole(platform_db: PlatformDatabase, role: str) -> None:
    """CREATEDB for the drill role only (it creates the breach drill's scratch databases)."""
    with platform_db.admin() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles "
            "WHERE rolname = %s", (role,),
        ).fetchone()
    assert row == (False, False, False, role == DRILL_ROLE, False)


@pytest.fixture
def drifted_jobs_role(platform_db: PlatformDatabase) -> Iterator[None]:
    with platform_db.admin(autocommit=True) as admin:
        admin.execute("ALTER ROLE platform_jobs BYPASSRLS CREATEDB")
    yield
    with platform_db.admin(autocommit=True) as admin:  # never leave it drifted for other tests
        admin.execute("ALTER ROLE platform_jobs NOBYPASSRLS NOCREATEDB")


def test_bootstrap_roles_repairs_drifted_attributes(platform_db: PlatformDatabase, drifted_jobs_role: None) -> None:
    with platform_db.admin() as admin:
        bootstrap_roles(admin, dbname=platform_db.dbname, passwords=platform_db.passwords)
        row = admin.execute("SELECT rolbypassrls, rolcreatedb FROM pg_roles WHERE rolname = %s", (JOBS_ROLE,))
        assert row.fetchone() == (False, False)


def test_bootstrap_roles_unknown_role_refused(platform_db: PlatformDatabase) -> None:
    with platform_db.admin() as admin, pytest.raises(ValueError, match="no such platform role"):
        bootstrap_roles(admin, dbname=platform_db.dbname, passwords={"someone": secrets.token_hex(8)})


@pytest.mark.parametrize("role", SERVICE_ROLES)
def test_service_roles_cannot_create_objects(platform_db: PlatformDatabase, role: str) -> None:
    with platform_db.connect(role) as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute("CREATE TABLE public.scratch (x int)")


@pytest.mark.parametrize("table", SENSITIVE_TABLES)
def test_jobs_role_sensitive_rows_owner_bound_too(platform_db: PlatformDatabase, table: str) -> None:
    """Jobs are not BYPASSRLS: with no owner bound they see nothing either."""
    with platform_db.connect(JOBS_ROLE) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("platform", table))
        assert conn.execute(query).fetchone() == (0,)


@pytest.fixture
def rds_like_admin(platform_db: PlatformDatabase) -> Iterator[tuple[str, str]]:
    """An admin like RDS's master user: CREATEROLE and CREATEDB, but not a superuser."""
    name, password = f"admin_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))
        for role in ALL_ROLES:
            admin.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(role),
                                                                               sql.Identifier(name)))
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(platform_db.dbname),
                                                                       sql.Identifier(name)))
        admin.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(name)))
    yield name, password
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(sql.Identifier(platform_db.dbname)))
        admin.execute("ALTER SCHEMA public OWNER TO pg_database_owner")
        admin.execute("ALTER ROLE platform_jobs NOBYPASSRLS")
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_bootstrap_roles_as_non_superuser_admin_works_and_refuses_unsafe_roles(
    platform_db: PlatformDatabase, rds_like_admin: tuple[str, str]
) -> None:
    settings = platform_db.settings(rds_like_admin[0])
    with connect(settings, StaticPassword(rds_like_admin[1])) as admin:
        bootstrap_roles(admin, dbname=platform_db.dbname)  # names no superuser-only attribute
    with platform_db.admin(autocommit=True) as superuser:
        superuser.execute("ALTER ROLE platform_jobs BYPASSRLS")
    with (
        connect(settings, StaticPassword(rds_like_admin[1])) as admin,
        pytest.raises(SchemaError, match="platform_jobs"),
    ):
        bootstrap_roles(admin, dbname=platform_db.dbname)
