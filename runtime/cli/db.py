"""`python -m runtime db ...`: bootstrap-roles, migrate, self-check (P3, P4, P5).

    db bootstrap-roles   create or repair the platform roles; run as the admin (RDS master) user
    db migrate           apply pending migrations and check the schema; run as platform_owner
    db self-check        exit 1 when the configured role could read past RLS (run before serving)
    db setup             both, in one run, at deploy time: bootstrap-roles as the admin (the master
                         secret's user), then migrate as the migration owner (IAM token), under one
                         advisory lock, so it runs once however many start (runtime/db/setup.py)

Connection settings come from the PLATFORM_DATABASE_* variables (runtime/settings.py).
"""

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from runtime import settings
from runtime.cli.wiring import connect_from_environment
from runtime.db.config import DatabaseSettings
from runtime.db.connect import connect
from runtime.db.credentials import PasswordSource, StaticPassword
from runtime.db.migrate import migrate
from runtime.db.roles import ALL_ROLES, bootstrap_roles
from runtime.db.schema import OWNER_ROLE
from runtime.db.self_check import ServiceMode, inspect
from runtime.db.setup import DEFAULT_LOCK_TIMEOUT_SECONDS, SetupResult, run_setup
from runtime.environment import integer, required, text
from runtime.errors import ConfigurationError, PlatformError
from runtime.wiring.clients import aws_client
from runtime.wiring.passwords import password_source, read_admin_secret


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    db = subparsers.add_parser("db", help="database: roles, migrations, self-check")
    commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    commands.add_parser("bootstrap-roles", help="create or repair the platform roles (admin user)").set_defaults(
        handler=bootstrap_roles_command
    )
    commands.add_parser("migrate", help=f"apply pending migrations, check the schema ({OWNER_ROLE})").set_defaults(
        handler=migrate_command
    )
    check = commands.add_parser("self-check", help="refuse (exit 1) when this role could read past RLS")
    check.add_argument("--mode", choices=[m.value for m in ServiceMode], help=f"default: ${settings.SERVICE_MODE}")
    check.set_defaults(handler=self_check_command)
    commands.add_parser(
        "setup", help="deploy time: bootstrap-roles as the admin, then migrate as the owner, once (advisory lock)"
    ).set_defaults(handler=setup_command)


def bootstrap_roles_command(args: argparse.Namespace) -> int:
    with connect_from_environment() as conn:
        bootstrap_roles(conn, dbname=os.environ[settings.DATABASE_NAME])
    print(f"roles ready: {', '.join(ALL_ROLES)}")
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    with connect_from_environment() as conn:
        result = migrate(conn)
    print(f"schema at version {result.version}; applied: {', '.join(result.applied) or 'none pending'}; "
          "schema check passed")
    return 0


def self_check_command(args: argparse.Namespace) -> int:
    mode = ServiceMode(args.mode or os.environ.get(settings.SERVICE_MODE) or ServiceMode.OWNER.value)
    with connect_from_environment() as conn:
        report = inspect(conn, mode)
    if report.ok:
        print(f"self-check passed for role {report.role} ({mode.value} mode)")
        return 0
    print(f"self-check FAILED for role {report.role}:", file=sys.stderr)
    for finding in report.findings:
        print(f"- {finding}", file=sys.stderr)
    return 1


def setup_command(args: argparse.Namespace) -> int:
    return setup_from_environment(os.environ)


def setup_from_environment(
    environ: Mapping[str, str],
    *,
    clients: Callable[[str], Any] = aws_client,
    owner_passwords: PasswordSource | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """`db setup`: every step printed; 0 when the database has the roles and schema this code needs, else 1
    with one message saying what failed and what to do. `owner_passwords` replaces the migration owner's
    password source chosen from the settings (an IAM token on AWS); tests pass the test cluster's password."""
    started = time.monotonic()
    step = "reading the settings"

    def report(line: str) -> None:
        nonlocal step
        step = line
        out(f"database setup: {line}")

    try:
        report("reading the settings")
        owner = _migration_owner_settings(environ)
        secret_id = required(environ, settings.DATABASE_ADMIN_SECRET_ID,
                             "the ARN of the database's master secret (the RDS master user)")
        lock_timeout = integer(environ, settings.DATABASE_SETUP_LOCK_TIMEOUT_SECONDS,
                               int(DEFAULT_LOCK_TIMEOUT_SECONDS), low=1, high=3600)
        report(f"reading the admin credentials from {secret_id}")
        admin_user, admin_password = read_admin_secret(clients("secretsmanager"), secret_id)
        admin = dataclasses.replace(owner, user=admin_user, application_name="platform-db-setup")
        owner_source = owner_passwords if owner_passwords is not None else password_source(owner, clients)
        how = "an IAM token" if owner.iam_auth else "its password"
        report(f"admin user {admin_user}; migration owner {owner.user} (logs in with {how}); "
               f"database {owner.dbname} at {owner.host}:{owner.port}")
        result = run_setup(
            admin=lambda: connect(admin, StaticPassword(admin_password)),
            owner=lambda: connect(owner, owner_source),
            dbname=owner.dbname,
            iam_auth=owner.iam_auth,
            lock_timeout_seconds=lock_timeout,
            report=report,
        )
    except PlatformError as exc:
        print(f"database setup FAILED while {step}: {exc}", file=sys.stderr)
        return 1
    out(f"database setup: done in {time.monotonic() - started:.1f} s; {_summary(result)}")
    return 0


def _migration_owner_settings(environ: Mapping[str, str]) -> DatabaseSettings:
    """The DATABASE_* settings, as the migration owner (DATABASE_USER is the services' variable, not read)."""
    user = text(environ, settings.DATABASE_MIGRATION_USER) or OWNER_ROLE
    if user != OWNER_ROLE:
        raise ConfigurationError(
            f"{settings.DATABASE_MIGRATION_USER}={user!r}: the migrations run as {OWNER_ROLE}, which owns the "
            "schema; set it to that or unset it"
        )
    return DatabaseSettings.from_environment({**environ, settings.DATABASE_USER: user})


def _summary(result: SetupResult) -> str:
    if result.migration is None:
        return f"roles ready; schema left at version {result.version}, newer than this code"
    applied = ", ".join(result.migration.applied) or "none pending"
    return f"roles ready; schema at version {result.version} (applied: {applied})"
