"""`python -m runtime verify-deployed --env ENV`: read-only checks of a deployed environment against P1-P14.

    verify-deployed --env dev [--cdk-out cdk.out] [--family keys ...] [--format md|json|csv] [--out DIR]

The AWS families (network, keys, database, backup, storage, edge, vpn, monitoring, drift) compare the live
environment with its synthesized templates (--cdk-out, `make synth`'s) and run with the auditor's role
(<app>-<env>-auditor, stacks/auditor.py: an AWS profile that assumes it). The database families (runtime, drills)
connect as the task's database user (PLATFORM_DATABASE_*): run them in the lifecycle job's task,
`--family runtime --family drills`. Prints the report in --format (default md); --out DIR also writes
report.md, report.json and report.csv there. Exit 0 when no promise failed, 1 when one did (a check that could not
run is reported, and fails nothing by itself).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from runtime import settings
from runtime.audit.verify import VerifyReport
from runtime.cli.audit import chain_key_for, trust_from_environment
from runtime.cli.wiring import connect_from_environment
from runtime.db.audit_verify import verify_audit_trail
from runtime.verify_deployed import report as reports
from runtime.verify_deployed.context import Context
from runtime.verify_deployed.database_runtime import DatabaseContext
from runtime.verify_deployed.expected import read_expected
from runtime.verify_deployed.result import utc_now
from runtime.verify_deployed.run import AWS_FAMILIES, DATABASE_FAMILIES, FAMILIES, run, selected
from runtime.wiring.clients import aws_client

NO_DATABASE = (f"no database settings ({settings.DATABASE_HOST} unset): run `verify-deployed --family runtime "
               "--family drills` in the lifecycle job's task")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("verify-deployed", help="check a deployed environment against P1-P14 (read-only)")
    parser.add_argument("--env", required=True, help="the environment's name, as in the config (dev, qa, prod, ...)")
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"),
                        help="the synthesized cloud assembly holding the environment (default cdk.out)")
    parser.add_argument("--family", action="append", default=[], choices=list(FAMILIES),
                        help="run these families only (repeatable; default all)")
    parser.add_argument("--format", choices=reports.FORMATS, default="md", help="what to print (default md)")
    parser.add_argument("--out", type=Path, help="also write report.md, report.json and report.csv here")
    parser.add_argument("--key-secret-id", help="read the audit chain key (positions before the cut-over to signed "
                        "checkpoints) from this Secrets Manager secret")
    parser.set_defaults(handler=verify_deployed_command)


def _audit_trail(args: argparse.Namespace) -> VerifyReport:
    """`audit verify`'s check: the chain against the signed checkpoints in the Object Lock bucket."""
    return verify_audit_trail(connect_from_environment, trust_from_environment(), chain_key=chain_key_for(args))


def verify_deployed_command(args: argparse.Namespace) -> int:
    families = tuple(args.family) or tuple(FAMILIES)
    checks = selected(families)
    now = utc_now()
    aws = database = None
    account = region = "-"
    if any(f in AWS_FAMILIES for f in families):
        expected = read_expected(args.cdk_out, args.env)
        aws = Context(expected, aws_client)
        account, region = expected.account, expected.region
    connection = None
    if any(f in DATABASE_FAMILIES for f in families) and os.environ.get(settings.DATABASE_HOST, "").strip():
        connection = connect_from_environment()
        database = DatabaseContext(connection, lambda: _audit_trail(args))
    try:
        results = run(checks, aws=aws, database=database, why_no_database=NO_DATABASE)
    finally:
        if connection is not None:
            connection.close()
    report = reports.Report(args.env, account, region, now, families, tuple(results))
    if args.out:
        reports.write(report, args.out)
    print(reports.RENDERERS[args.format](report), end="")
    return 0 if report.passed else 1
