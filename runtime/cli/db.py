"""`python -m runtime db ...`: bootstrap-roles, migrate, self-check (P3, P4, P5).

    db bootstrap-roles   create or repair the platform roles; run as the admin (RDS master) user
    db migrate           apply pending migrations and check the schema; run as platform_owner
    db self-check        exit 1 when the configured role could read past RLS (run before serving)

Connection settings come from the PLATFORM_DATABASE_* variables (runtime/settings.py).
"""

import argparse
import os
import sys
from typing import Any

from runtime import settings
from runtime.cli.wiring import connect_from_environment
from runtime.db.migrate import migrate
from runtime.db.roles import ALL_ROLES, bootstrap_roles
from runtime.db.self_check import ServiceMode, inspect


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    db = subparsers.add_parser("db", help="database: roles, migrations, self-check")
    commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    commands.add_parser("bootstrap-roles", help="create or repair the platform roles (admin user)").set_defaults(
        handler=bootstrap_roles_command
    )
    commands.add_parser("migrate", help="apply pending migrations, check the schema (platform_owner)").set_defaults(
        handler=migrate_command
    )
    check = commands.add_parser("self-check", help="refuse (exit 1) when this role could read past RLS")
    check.add_argument("--mode", choices=[m.value for m in ServiceMode], help=f"default: ${settings.SERVICE_MODE}")
    check.set_defaults(handler=self_check_command)


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
