"""`python -m runtime breach ...`: respond to a data breach within 24 hours (P12), from the audit trail (P14).

    breach declare --from T1 --to T2 [--tables T ...] [--actors ID ...] [--orgs ID ...] [--keys ID ...]
                   --summary "what happened" [--mitigation "what we did" ...] [--report-dir DIR] [--no-deliver]
        record the incident (starts the 24-hour clock), verify the audit chain over the window, compute every
        impacted organisation and user, queue one notification per user, send them, write the report.
        Declaring the same scope again resumes that incident (same clock, nothing sent twice).
    breach deliver INCIDENT [--retry-failed] [--resend-in-doubt]     send what is due, retry failures
    breach status INCIDENT [--report-dir DIR]     impacted / notified / pending / failed, time left; exit 1 overdue
    breach drill [--organisations N] [--attacked N] [--record-dir DIR]
        the whole procedure on a synthetic incident in a scratch database; writes a drill record.

Times are ISO 8601 with a zone (2026-11-02T08:00Z), from 2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z; the
window is at most ten years. --organisations and --attacked are 1 to 1000 (--attacked at most
--organisations). Exit codes: 0 done; 1 needs attention (the audit chain
is broken, notifications failed, the incident is overdue, or the drill failed); 2 usage.
"""

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from runtime import bounds
from runtime.breach.drill import DrillSize, run_breach_drill
from runtime.breach.report import report_document, write_reports
from runtime.breach.response import BreachResponse, Status
from runtime.breach.scope import BreachScope
from runtime.breach.wiring import BreachWiring
from runtime.cli.arguments import number_help, time_help, utc_time, uuid_argument, whole_number
from runtime.drill import FileDrillLog
from runtime.drill.postgres import PostgresDrillLog
from runtime.drill.record import DrillLog, DrillRecord
from runtime.errors import InvalidScopeError

EXIT_ATTENTION = 1
_DEFAULT_SIZE = DrillSize()
YEAR = timedelta(days=365)

# Replaced in tests: builds the adapters from the environment.
make_wiring: Callable[[Mapping[str, str]], BreachWiring] = BreachWiring.from_environment


def _items(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part]


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    breach = subparsers.add_parser("breach", help="breach response within 24 hours (P12)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = breach.add_subparsers(dest="breach_command", metavar="BREACH_COMMAND", required=True)

    declare = commands.add_parser("declare", help="declare an incident, compute its impact, notify")
    declare.add_argument("--from", dest="start", required=True, type=utc_time, metavar="T1",
                         help=time_help("start of the breach window"))
    declare.add_argument("--to", dest="end", required=True, type=utc_time, metavar="T2",
                         help=time_help("end of the window, exclusive"))
    declare.add_argument("--tables", nargs="+", metavar="TABLE", help="only events on these tables")
    declare.add_argument("--actors", nargs="+", metavar="ID", help="only events by these actor ids")
    declare.add_argument("--orgs", nargs="+", metavar="ID", help="only events on these organisations' data")
    declare.add_argument("--keys", nargs="+", metavar="ID", help="only events that touched these record ids")
    declare.add_argument("--summary", required=True, help="what happened, without personal data")
    declare.add_argument("--mitigation", action="append", default=[], help="what was done (repeatable)")
    declare.add_argument("--report-dir", type=Path, default=Path("breach-reports"))
    declare.add_argument("--no-deliver", action="store_true", help="queue the notifications, send them later")
    declare.set_defaults(handler=declare_command)

    deliver = commands.add_parser("deliver", help="send the due notifications of an incident")
    deliver.add_argument("incident", type=uuid_argument)
    deliver.add_argument("--retry-failed", action="store_true", help="retry those that gave up (cause fixed)")
    deliver.add_argument("--resend-in-doubt", action="store_true",
                         help="resend those a stopped run may or may not have sent (check the provider first)")
    deliver.set_defaults(handler=deliver_command)

    status = commands.add_parser("status", help="counts and time left of an incident; exit 1 when overdue")
    status.add_argument("incident", type=uuid_argument)
    status.add_argument("--report-dir", type=Path, help="also write the report (JSON, CSV) here")
    status.set_defaults(handler=status_command)

    drill = commands.add_parser("drill", help="the whole procedure on a synthetic incident (yearly, P12)")
    drill.add_argument("--organisations", type=whole_number(bounds.DRILL_ORGANISATIONS),
                       default=_DEFAULT_SIZE.organisations, metavar="N",
                       help=number_help("synthetic organisations to seed", bounds.DRILL_ORGANISATIONS))
    drill.add_argument("--attacked", type=whole_number(bounds.DRILL_ATTACKED), default=_DEFAULT_SIZE.attacked,
                       metavar="N", help=number_help("of them the synthetic attacker reads, at most --organisations",
                                                     bounds.DRILL_ATTACKED))
    drill.add_argument("--record-dir", type=Path, help="also write the drill record as JSON here")
    drill.set_defaults(handler=drill_command)


def _scope(args: argparse.Namespace) -> BreachScope:
    try:
        return BreachScope(
            args.start, args.end,
            tables=frozenset(_items(args.tables)),
            actors=frozenset(uuid_argument(a) for a in _items(args.actors)),
            organisations=frozenset(uuid_argument(o) for o in _items(args.orgs)),
            keys=frozenset(uuid_argument(k) for k in _items(args.keys)),
        )
    except argparse.ArgumentTypeError as exc:
        raise InvalidScopeError(f"--actors, --orgs and --keys take ids: {exc}") from None


def _report(response: BreachResponse, wiring: BreachWiring, status: Status, directory: Path) -> None:
    store = wiring.store()
    incident = status.incident
    document = report_document(incident, status.counts, store.impacted_data(incident.id), status.now)
    json_path, csv_path = write_reports(directory, incident, document, store.notifications(incident.id))
    print(f"report: {json_path} and {csv_path}")


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def declare_command(args: argparse.Namespace) -> int:
    scope = _scope(args)
    wiring = make_wiring(os.environ)
    try:
        with wiring.pool.connection() as trail:
            response = wiring.response(trail, notify=not args.no_deliver)
            declared = response.declare(scope, args.summary, args.mitigation)
            incident = declared.incident
            verb = "declared" if declared.created else "resumed (declared before with this scope; clock unchanged)"
            print(f"incident {incident.facts().reference} {verb}: {incident.id}")
            print(f"scope: {scope.describe()}")
            print(declared.verification.describe())
            print(f"impacted: {len(declared.impact.organisations)} organisations, {len(declared.impact.users)} users "
                  f"({declared.added} notifications queued now)")
            _warn(declared.warnings)
            delivery_failed = False
            if not args.no_deliver:
                delivery = response.deliver(incident.id)
                print(f"sent {delivery.sent}, failed attempts {delivery.failed_attempts}")
                _warn(delivery.warnings)
                delivery_failed = delivery.counts.failed > 0
            status = response.status(incident.id)
            print(status.describe())
            _report(response, wiring, status, args.report_dir)
    finally:
        wiring.close()
    if not declared.verification.ok:
        print("ATTENTION: the audit trail is damaged in this window; the impact may be incomplete. Widen the "
              "scope (e.g. drop --actors) and investigate with `python -m runtime audit verify`.", file=sys.stderr)
        return EXIT_ATTENTION
    return EXIT_ATTENTION if delivery_failed or status.overdue else 0


def deliver_command(args: argparse.Namespace) -> int:
    wiring = make_wiring(os.environ)
    try:
        with wiring.pool.connection() as trail:
            response = wiring.response(trail)
            delivery = response.deliver(args.incident, retry_failed=args.retry_failed,
                                        resend_in_doubt=args.resend_in_doubt)
            print(f"sent {delivery.sent}, failed attempts {delivery.failed_attempts}")
            _warn(delivery.warnings)
            status = response.status(args.incident)
            print(status.describe())
    finally:
        wiring.close()
    return EXIT_ATTENTION if status.counts.failed or status.overdue else 0


def status_command(args: argparse.Namespace) -> int:
    wiring = make_wiring(os.environ)
    try:
        with wiring.pool.connection() as trail:
            response = wiring.response(trail, notify=False)
            status = response.status(args.incident)
            print(status.describe(), file=sys.stderr if status.overdue else sys.stdout)
            _warn(status.warnings)
            if args.report_dir:
                _report(response, wiring, status, args.report_dir)
    finally:
        wiring.close()
    return EXIT_ATTENTION if status.overdue else 0


def drill_command(args: argparse.Namespace) -> int:
    if args.attacked > args.organisations:
        print("error: --attacked must be at most --organisations (the attacker reads some of them)", file=sys.stderr)
        return 2
    wiring = make_wiring(os.environ)
    try:
        log = PostgresDrillLog(wiring.pool)
        previous = log.last_passed("breach")
        logs: list[DrillLog] = [log] + ([FileDrillLog(args.record_dir)] if args.record_dir else [])
        record = run_breach_drill(wiring.scratch_databases(), log=_Both(logs),
                                  size=DrillSize(args.organisations, _DEFAULT_SIZE.users_per_organisation,
                                                 args.attacked))
    finally:
        wiring.close()
    print(record.describe())
    if previous is None:
        print("first recorded breach drill")
    elif record.started_at - previous > YEAR:
        print(f"the previous passing drill was {previous:%Y-%m-%d}: more than a year before this one (P12 asks yearly)")
    print(f"drill record {record.id} written to platform.lifecycle_drills")
    return 0 if record.passed else EXIT_ATTENTION


class _Both:
    def __init__(self, logs: list[DrillLog]) -> None:
        self._logs = logs

    def add(self, record: DrillRecord) -> None:
        for log in self._logs:
            log.add(record)
