"""`python -m runtime db ...`: bootstrap-roles, migrate, self-check. Thin: parse, wire, report.

Connection settings come from the PLATFORM_DATABASE_* variables (runtime/settings.py). AWS clients
are built here, on demand, by `clients` (boto3 by default), never at import time.
"""

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from runtime import settings
from runtime.db.config import DatabaseSettings
from runtime.db.connect import Connection, connect
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword
from runtime.db.migrate import migrate
from runtime.db.roles import bootstrap_roles
from runtime.db.self_check import ServiceMode, inspect

ClientFactory = Callable[[str], Any]  # AWS service name -> client


def boto3_clients(service: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # only the CLI and the service entry point build clients

    return boto3.client(service)


def password_source(db: DatabaseSettings, clients: ClientFactory) -> PasswordSource | None:
    """IAM token per connection, else the Secrets Manager secret, else libpq's own (PGPASSFILE)."""
    if db.iam_auth:
        return IamAuthToken(client=clients("rds"), host=db.host, port=db.port, user=db.user)
    if db.password_secret_id:
        return SecretsManagerPassword(client=clients("secretsmanager"), secret_id=db.password_secret_id)
    return None


def connect_from_environment(environ: Mapping[str, str], clients: ClientFactory = boto3_clients) -> Connection:
    db = DatabaseSettings.from_environment(environ)
    return connect(db, password_source(db, clients))


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    db = commands.add_parser("db", help="database: roles, migrations, self-check")
    sub = db.add_subparsers(dest="db_command", required=True)
    sub.add_parser("bootstrap-roles", help="create or repair the platform roles (run as the admin user)")
    sub.add_parser("migrate", help="apply pending migrations and check the schema (run as platform_owner)")
    check = sub.add_parser("self-check", help="refuse (exit 1) when this role could read past RLS")
    check.add_argument("--mode", choices=[m.value for m in ServiceMode], help=f"default: ${settings.SERVICE_MODE}")


def run(args: argparse.Namespace, environ: Mapping[str, str], clients: ClientFactory) -> int:
    with connect_from_environment(environ, clients) as conn:
        if args.db_command == "bootstrap-roles":
            bootstrap_roles(conn, dbname=environ[settings.DATABASE_NAME])
            print("roles ready: platform_owner, platform_app, platform_support, platform_jobs")
            return 0
        if args.db_command == "migrate":
            result = migrate(conn)
            applied = ", ".join(result.applied) or "none pending"
            print(f"schema at version {result.version}; applied: {applied}; schema check passed")
            return 0
        mode = ServiceMode(args.mode or environ.get(settings.SERVICE_MODE) or ServiceMode.OWNER.value)
        report = inspect(conn, mode)
        if report.ok:
            print(f"self-check passed for role {report.role} ({mode.value} mode)")
            return 0
        print(f"self-check FAILED for role {report.role}:", file=sys.stderr)
        for finding in report.findings:
            print(f"- {finding}", file=sys.stderr)
        return 1
