"""Apply the SQL migrations in order, once each, in ONE transaction, then check the result (P2, P3, P4).

Migrations are `migrations/NNNN_name.sql`, run as the owner role. Each applied one is recorded in
`platform.schema_migrations` with a SHA-256 of its text; an applied migration whose file changed
stops the run. After the pending migrations, `schema_problems` inspects the catalog; any problem
(an unclassified column, a SENSITIVE table without forced RLS, a support view reading SENSITIVE
data) rolls the whole run back, so the database never holds a half-checked schema.

The applied version is readable by every service role through `support.schema_version()` (a SECURITY
DEFINER function the bookkeeping keeps, EXECUTE granted to the service roles only): readiness compares it
with the newest migration the code ships (`schema_version`), so a task whose schema is behind is not ready.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from runtime.classification import DataClass, Registry
from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.schema import (
    BLIND_INDEX_DOMAINS,
    CREATED_AT,
    DATABASE_REGISTRY,
    ENVELOPE_DOMAIN,
    SCHEMA,
    SERVICE_ROLES,
    SUPPORT_SCHEMA,
    sensitive_tables,
)
from runtime.errors import MigrationError, UnclassifiedColumnError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# Serialises concurrent migration runs (two tasks starting at once); any constant works.
_ADVISORY_LOCK = 0x706C6174666F726D  # "platform"

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE SCHEMA IF NOT EXISTS support;
CREATE TABLE IF NOT EXISTS platform.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum bytea NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
# The applied version for roles that may not read the bookkeeping table: NOT_SENSITIVE, one integer.
_SCHEMA_VERSION_FUNCTION = sql.SQL(
    """
CREATE OR REPLACE FUNCTION support.schema_version() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT coalesce(max(version), 0) FROM platform.schema_migrations';
REVOKE ALL ON FUNCTION support.schema_version() FROM PUBLIC;
GRANT USAGE ON SCHEMA support TO {roles};
GRANT EXECUTE ON FUNCTION support.schema_version() TO {roles};
"""
).format(roles=sql.SQL(", ").join(sql.Identifier(role) for role in SERVICE_ROLES))
# SQLSTATEs that mean "this database was never migrated by code that keeps support.schema_version()".
_NO_VERSION_YET = (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName,
                   psycopg.errors.UndefinedTable)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str = field(repr=False)

    @property
    def checksum(self) -> bytes:
        return hashlib.sha256(self.text.encode()).digest()


@dataclass(frozen=True, slots=True)
class MigrationResult:
    applied: tuple[str, ...]
    version: int


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """The database's applied migration version against the newest one this code ships."""

    applied: int
    required: int

    @property
    def behind(self) -> bool:
        """The code needs migrations the database lacks: not ready, run `python -m runtime db setup`."""
        return self.applied < self.required

    @property
    def ahead(self) -> bool:
        """The database was migrated by newer code (a rollback, an older image): migrations are forward-only."""
        return self.applied > self.required

    def describe(self) -> str:
        if self.behind:
            return (
                f"the database schema is at version {self.applied}, behind version {self.required} that this code "
                "needs; run `python -m runtime db setup` (the deploy runs it before the services start)"
            )
        if self.ahead:
            return (
                f"the database schema is at version {self.applied}, ahead of this code's newest migration "
                f"{self.required}; migrations are forward-only, so it stays as it is"
            )
        return f"the database schema is at version {self.applied}, as this code needs"


def newest_version(migrations: Sequence[Migration]) -> int:
    """The version the code needs: its newest migration (0 when it ships none)."""
    return max((m.version for m in migrations), default=0)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} must be named NNNN_lower_snake_case.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations in {directory} share a version number; renumber one")
    return tuple(migrations)


def migrate(
    conn: Connection,
    *,
    migrations: Sequence[Migration] | None = None,
    registry: Registry = DATABASE_REGISTRY,
) -> MigrationResult:
    """Apply the pending migrations as the connected (owner) role and check the schema; all or nothing."""
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    with translated(), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK,))
        conn.execute(_BOOKKEEPING.encode())
        conn.execute(_SCHEMA_VERSION_FUNCTION)
        rows = conn.execute("SELECT version, name, checksum FROM platform.schema_migrations").fetchall()
        done = {int(v): (str(n), bytes(c)) for v, n, c in rows}
        for migration in sorted(migrations, key=lambda m: m.version):
            recorded = done.get(migration.version)
            if recorded is not None:
                if recorded[1] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} changed after it was applied; never edit an applied "
                        "migration, add a new one instead"
                    )
                continue
            conn.execute(migration.text.encode())
            conn.execute(
                "INSERT INTO platform.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.name)
        problems = schema_problems(conn, registry)
        if problems:
            unclassified = [p for p in problems if p.startswith("unclassified")]
            error = UnclassifiedColumnError if unclassified else MigrationError
            raise error(
                "the schema check failed, nothing was applied:\n- " + "\n- ".join(problems)
                + "\nDeclare every table and column in runtime.classification (or runtime.db.schema), "
                "and keep the conventions in runtime/db/schema.py"
            )
    return MigrationResult(tuple(applied_now), max([newest_version(migrations), *done]))


def applied_version(conn: Connection) -> int:
    """The database's applied migration version, as any service role may read it; 0 when the database was
    never migrated (or only by code older than `support.schema_version()`, which is behind by definition)."""
    with translated():
        try:
            with conn.transaction():  # a savepoint inside a caller's transaction: a miss leaves it usable
                row = conn.execute("SELECT support.schema_version()").fetchone()
        except _NO_VERSION_YET:
            return 0
    return int(row[0]) if row is not None and row[0] is not None else 0


def schema_version(conn: Connection, migrations: Sequence[Migration] | None = None) -> SchemaVersion:
    """The applied version against the newest migration the code ships (`load_migrations()` by default)."""
    migrations = load_migrations() if migrations is None else migrations
    return SchemaVersion(applied=applied_version(conn), required=newest_version(migrations))


def schema_problems(conn: Connection, registry: Registry = DATABASE_REGISTRY) -> list[str]:
    """Every way the live schema breaks the classification or owner-only rules; empty means sound."""
    problems: list[str] = []
    columns = conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, tn.nspname
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
        JOIN pg_namespace tn ON tn.oid = t.typnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY c.relname, a.attnum
        """,
        (SCHEMA,),
    ).fetchall()
    for table_name, column, type_text, type_name, type_schema in columns:
        if not registry.is_declared(table_name):
            problems.append(f"unclassified table {SCHEMA}.{table_name}: declare it in the classification registry")
            continue
        if not registry.is_declared(table_name, column):
            problems.append(f"unclassified column {SCHEMA}.{table_name}.{column}: declare its data class")
            continue
        declared = registry.table(table_name)
        assert declared is not None
        if declared.data_class is not DataClass.SENSITIVE:
            continue
        declared_column = declared.columns[column]
        if declared_column.is_blind_index:
            # Derived from SENSITIVE data (so SENSITIVE) but not ciphertext: a keyed, truncated HMAC whose
            # domain bounds it to the index's range, so it cannot hold a value itself.
            if type_schema != SCHEMA or type_name not in BLIND_INDEX_DOMAINS:
                problems.append(
                    f"blind index column {SCHEMA}.{table_name}.{column} is {type_text}; it must be one of "
                    + ", ".join(f"{SCHEMA}.{d}" for d in BLIND_INDEX_DOMAINS)
                )
        elif registry.classify(table_name, column) is DataClass.SENSITIVE:
            if (type_schema, type_name) != (SCHEMA, ENVELOPE_DOMAIN):
                problems.append(
                    f"SENSITIVE column {SCHEMA}.{table_name}.{column} is {type_text}; it must be "
                    f"{SCHEMA}.{ENVELOPE_DOMAIN} (envelope ciphertext, P6)"
                )
        elif type_text != ("timestamp with time zone" if column == CREATED_AT else "uuid"):
            problems.append(
                f"NOT_SENSITIVE column {SCHEMA}.{table_name}.{column} of a SENSITIVE table is {type_text}; "
                "only uuid ids and created_at timestamptz may stay unencrypted there"
            )
    problems.extend(rls_problems(conn, registry))
    problems.extend(_support_view_problems(conn, registry))
    return problems


def rls_problems(conn: Connection, registry: Registry = DATABASE_REGISTRY) -> list[str]:
    """SENSITIVE tables that are missing, or lack enabled+forced RLS or an owner policy (P3)."""
    problems: list[str] = []
    for t in sensitive_tables(registry):
        row = conn.execute(
            """
            SELECT c.relrowsecurity, c.relforcerowsecurity,
                   count(p.polname) FILTER (WHERE pg_get_expr(p.polqual, p.polrelid) LIKE '%%current_owner()%%'),
                   count(p.polname)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_policy p ON p.polrelid = c.oid
            WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
            GROUP BY c.oid
            """,
            (SCHEMA, t.name),
        ).fetchone()
        if row is None:
            problems.append(f"SENSITIVE table {SCHEMA}.{t.name} does not exist; run the migrations")
            continue
        enabled, forced, owner_policies, policies = row
        if not enabled or not forced:
            problems.append(
                f"SENSITIVE table {SCHEMA}.{t.name} lacks {'forced ' if enabled else ''}row-level security; "
                "ENABLE and FORCE ROW LEVEL SECURITY on it (P3)"
            )
        if owner_policies == 0 or owner_policies != policies:
            problems.append(
                f"SENSITIVE table {SCHEMA}.{t.name} needs its policies to compare the owner column with "
                f"{SCHEMA}.current_owner() (and no other policy, which would widen access)"
            )
    return problems


def _support_view_problems(conn: Connection, registry: Registry) -> list[str]:
    problems: list[str] = []
    not_views = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind NOT IN ('v')
        """,
        (SUPPORT_SCHEMA,),
    ).fetchall()
    problems.extend(f"{SUPPORT_SCHEMA}.{name} is not a view; the support schema holds views only"
                    for (name,) in not_views)
    # A view depends on each column it reads (refobjsubid > 0), or on the whole table (0) for a whole-row
    # reference like `SELECT t FROM table t`, which reads every column.
    used = conn.execute(
        """
        SELECT DISTINCT v.relname, t.relname, tn.nspname, coalesce(a.attname, '*')
        FROM pg_class v
        JOIN pg_namespace vn ON vn.oid = v.relnamespace
        JOIN pg_rewrite r ON r.ev_class = v.oid
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid AND d.refclassid = 'pg_class'::regclass
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
        WHERE vn.nspname = %s AND v.relkind = 'v'
        """,
        (SUPPORT_SCHEMA,),
    ).fetchall()
    for view, table_name, table_schema, column in used:
        declared = registry.table(table_name) if table_schema == SCHEMA else None
        if column == "*":
            readable = declared is not None and declared.data_class is DataClass.NOT_SENSITIVE
        else:
            readable = declared is not None and registry.classify(table_name, column) is DataClass.NOT_SENSITIVE
        if not readable:
            problems.append(
                f"support view {SUPPORT_SCHEMA}.{view} reads {table_schema}.{table_name}.{column}, which is not "
                "NOT_SENSITIVE; support may see NOT_SENSITIVE data only (P4)"
            )
    return problems
