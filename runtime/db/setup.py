"""Deploy-time database setup (P3, P4): the roles, then the schema, in ONE run, once however many start.

    run_setup(admin=connect_as_admin, owner=connect_as_owner, dbname="platform", report=print)

1. As the admin (the RDS master user): take a session advisory lock on the platform database, so a
   second run (two deploys, a retried task) waits for the first and then finds nothing left to do;
2. `bootstrap_roles`: create or repair the four roles, each granted `rds_iam` where the cluster has
   it, so the migration owner can log in with an IAM token;
3. As the migration owner (platform_owner): `migrate`, unless the database is already AHEAD of this
   code (a rollback re-running an older image): migrations are forward-only, so it is left as it is;
4. release the lock (closing the connection releases it too, should the process die).

Connections are opened by the callables the caller passes (the CLI wires the master secret and the
IAM token; tests pass their own), so this module builds no client and reads no environment.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import psycopg

from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.migrate import Migration, MigrationResult, load_migrations, migrate, schema_version
from runtime.db.roles import ALL_ROLES, bootstrap_roles
from runtime.errors import DatabaseError

# Distinct from migrate's transaction lock, which the owner's connection takes while this one is held.
SETUP_LOCK: Final = 0x7365747570  # "setup"
DEFAULT_LOCK_TIMEOUT_SECONDS: Final = 600.0


class SetupLockTimeoutError(DatabaseError):
    """Another setup run held the lock for longer than this run would wait."""


@dataclass(frozen=True, slots=True)
class SetupResult:
    waited_seconds: float  # for the lock: more than a moment means another run went first
    roles: tuple[str, ...]
    migration: MigrationResult | None  # None: the database is ahead of this code, left as it is
    version: int


def run_setup(
    *,
    admin: Callable[[], Connection],
    owner: Callable[[], Connection],
    dbname: str,
    iam_auth: bool = False,
    migrations: Sequence[Migration] | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    report: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.monotonic,
) -> SetupResult:
    """Bootstrap the roles as the admin, then migrate as the owner, under one advisory lock. With
    `iam_auth` (the owner logs in with an IAM token), a cluster without `rds_iam` is refused."""
    migrations = load_migrations() if migrations is None else migrations
    report("connecting as the admin user")
    with admin() as admin_conn:
        admin_conn.autocommit = True
        started = clock()
        report(f"waiting for the setup lock (at most {lock_timeout_seconds:g} s)")
        _lock(admin_conn, lock_timeout_seconds)
        waited = clock() - started
        report(f"setup lock held after {waited:.1f} s")
        try:
            report("creating or repairing the roles")
            bootstrap_roles(admin_conn, dbname=dbname, require_rds_iam=iam_auth)
            report(f"roles ready: {', '.join(ALL_ROLES)}")
            report("connecting as the migration owner")
            with owner() as owner_conn:
                before = schema_version(owner_conn, migrations)
                report(before.describe())
                if before.ahead:
                    return SetupResult(waited, ALL_ROLES, None, before.applied)
                report("applying pending migrations and checking the schema")
                result = migrate(owner_conn, migrations=migrations)
            applied = ", ".join(result.applied) or "none pending"
            report(f"schema at version {result.version}; applied: {applied}; schema check passed")
            return SetupResult(waited, ALL_ROLES, result, result.version)
        finally:
            _unlock(admin_conn)


def _lock(conn: Connection, timeout_seconds: float) -> None:
    milliseconds = max(1, int(timeout_seconds * 1000))
    with translated():
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{milliseconds}ms",))
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise SetupLockTimeoutError(
                f"another database setup run held the setup lock for more than {timeout_seconds:g} s; if no "
                "other deploy is running, look for a stuck setup task (aws ecs list-tasks --started-by "
                "database-setup) and stop it, then deploy again",
                sqlstate="55P03",
            ) from None
        finally:
            if not conn.closed:
                conn.execute("RESET lock_timeout")


def _unlock(conn: Connection) -> None:
    if conn.closed:
        return  # the server released the lock with the session
    with translated():
        conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
