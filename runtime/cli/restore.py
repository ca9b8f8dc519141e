"""`python -m runtime restore ...`: point-in-time restore of the database into a NEW cluster (P11).

    restore plan  --cluster ID --to TIME [--target ID] [--instances N]
        read the cluster, check TIME is restorable, print the plan. Changes nothing.
    restore apply --cluster ID --to TIME [--target ID] [--instances N] --confirm
        execute the plan, wait (with progress), verify (available, encrypted with the source's key, TLS forced,
        row counts when reachable), print the cut-over steps. Without --confirm: prints the plan, changes nothing.
        Run again after a failure or timeout: it resumes.
    restore drill --cluster ID [--record-dir DIR]
        restore to a scratch cluster, verify, delete it; write a drill record.

TIME is ISO 8601 with a zone (2026-11-02T08:00Z), from 2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z, and must
lie in the cluster's restorable window; --instances is 1 to 16. Exit codes: 0 done, 1 failed (the message says
what exists and what to do next), 2 usage.
"""

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime import bounds, settings
from runtime.cli.arguments import number_help, time_help, utc_time, whole_number
from runtime.db.config import DatabaseSettings
from runtime.drill import FileDrillLog
from runtime.drill.postgres import PostgresDrillLog
from runtime.drill.record import DrillLog, DrillRecord
from runtime.errors import PlatformError
from runtime.restore.drill import run_restore_drill
from runtime.restore.plan import RestorePlan, make_plan
from runtime.restore.procedure import Restorer, RowCounter, cut_over_steps
from runtime.restore.rds import RdsClusters
from runtime.restore.rows import PostgresRowCounter
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.passwords import password_source

# Replaced in tests.
make_clients: ClientFactory = aws_client
make_restorer: Callable[[RdsClusters], Restorer] = lambda clusters: Restorer(clusters, progress=print)  # noqa: E731
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    restore = subparsers.add_parser("restore", help="point-in-time restore into a new cluster (P11)",
                                    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = restore.add_subparsers(dest="restore_command", metavar="RESTORE_COMMAND", required=True)
    plan = commands.add_parser("plan", help="check the time and print the plan; changes nothing")
    apply = commands.add_parser("apply", help="execute the plan (needs --confirm), wait, verify, cut-over steps")
    for parser in (plan, apply):
        parser.add_argument("--cluster", required=True, help="the source cluster id (<app>-<env>-db)")
        parser.add_argument("--to", dest="to", required=True, type=utc_time, metavar="TIME",
                            help=time_help("the point in time to restore to"))
        parser.add_argument("--target", help="id of the new cluster (default: <cluster>-pitr-<time>)")
        parser.add_argument("--instances", type=whole_number(bounds.RESTORE_INSTANCES), metavar="N",
                            help=number_help("number of instances (default: as many as the source)",
                                             bounds.RESTORE_INSTANCES))
    apply.add_argument("--confirm", action="store_true", help="really do it; without it nothing changes")
    plan.set_defaults(handler=plan_command)
    apply.set_defaults(handler=apply_command)
    drill = commands.add_parser("drill", help="restore to a scratch cluster, verify, delete it (P11)")
    drill.add_argument("--cluster", required=True)
    drill.add_argument("--record-dir", type=Path, help="also write the drill record as JSON here")
    drill.set_defaults(handler=drill_command)


def _clusters() -> RdsClusters:
    client = make_clients("rds")
    return RdsClusters(client, region=getattr(getattr(client, "meta", None), "region_name", None))


def _plan(args: argparse.Namespace, clusters: RdsClusters) -> RestorePlan:
    facts = clusters.describe(args.cluster)
    return make_plan(facts, args.to, now=clock(), target=args.target, instances=args.instances)


def _counter(environ: Mapping[str, str]) -> RowCounter | None:
    """Row counts through the runtime when the job has database settings (the lifecycle job task does)."""
    if not environ.get(settings.DATABASE_HOST):
        return None
    base = DatabaseSettings.from_environment(environ)
    return PostgresRowCounter(base, lambda s: password_source(s, make_clients))


def plan_command(args: argparse.Namespace) -> int:
    plan = _plan(args, _clusters())
    print(plan.describe())
    print("nothing changed; to restore: python -m runtime restore apply ... --confirm (same arguments)")
    return 0


def apply_command(args: argparse.Namespace) -> int:
    clusters = _clusters()
    plan = _plan(args, clusters)
    print(plan.describe())
    if not args.confirm:
        print("nothing changed: add --confirm to restore (the source cluster is never modified)")
        return 0
    applied = make_restorer(clusters).apply(plan, counter=_counter(os.environ))
    print(f"verified {plan.target}:")
    for check in applied.checks:
        print(f"  [{'ok' if check.ok else 'FAILED'}] {check.name}: {check.detail}")
    print(f"  {applied.rows_note}")
    for table, count in (applied.row_counts or {}).items():
        print(f"    {table}: {'unknown' if count is None else count}")
    print(f"endpoint: {applied.restored.endpoint}")
    print("cut-over (nothing has switched yet):")
    for n, step in enumerate(cut_over_steps(plan, applied.restored), start=1):
        print(f"  {n}. {step}")
    return 0


def drill_command(args: argparse.Namespace) -> int:
    clusters = _clusters()
    logs: list[DrillLog] = [FileDrillLog(args.record_dir)] if args.record_dir else []
    database_log = _database_log(os.environ)
    if database_log is not None:
        logs.append(database_log)
    record = run_restore_drill(clusters, make_restorer(clusters), args.cluster, log=_All(logs),
                               counter=_counter(os.environ), clock=clock)
    print(record.describe())
    if not logs:
        print("warning: the drill record was not kept anywhere: pass --record-dir or run in the job task",
              file=sys.stderr)
    return 0 if record.passed else 1


def _database_log(environ: Mapping[str, str]) -> DrillLog | None:
    if not environ.get(settings.DATABASE_HOST):
        return None
    return _LazyDatabaseLog(environ)


class _LazyDatabaseLog:
    """Writes the record into platform.lifecycle_drills of the live database (jobs role) when reachable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def add(self, record: DrillRecord) -> None:
        from runtime.db.connect import open_pool

        db = DatabaseSettings.from_environment(self._environ)
        try:
            pool = open_pool(replace(db, pool_min_size=1, pool_max_size=1), password_source(db, make_clients),
                             name="restore-drill-log")
            try:
                PostgresDrillLog(pool).add(record)
            finally:
                pool.close()
        except PlatformError as exc:
            print(f"warning: the drill record could not be written to the database ({exc})", file=sys.stderr)


class _All:
    def __init__(self, logs: list[DrillLog]) -> None:
        self._logs = logs

    def add(self, record: DrillRecord) -> None:
        for log in self._logs:
            log.add(record)
