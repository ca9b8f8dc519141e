"""`python -m runtime export ...`: portability export (P13). Thin: parse, wire, report.

    export --org ORG --format csv|json|jsonl [--dest s3://bucket/prefix | --dest DIR]
           [--request ID] [--contract-ended-at T] [--actor ID] [--show-urls]
        every record of the organisation and everything derived from it, decrypted, one file per table plus
        manifest.json, under <dest>/<org>/<export id>/ (default dest: s3://$PLATFORM_EXPORTS_BUCKET/).
        Picks up the organisation's pending request in that format (or --request), else records one whose
        deadline is 30 days after the contract end (default: now; ISO 8601 with a zone, from
        2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z). Prints the outcome as JSON. Presigned
        download URLs are bearer credentials: printed only with --show-urls, never to the job's logs.
    export verify LOCATION [--manifest-sha256 HEX]
        check an export (directory or s3://...) against its manifest; exit 1 when a file differs.
    export status --org ORG
        the organisation's export requests, deadlines and status, as JSON.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from runtime import settings
from runtime.cli.arguments import time_help, utc_time, uuid_argument
from runtime.errors import ExportDestinationError
from runtime.lifecycle import ExportFormat, LifecycleRequests, verify_export
from runtime.lifecycle.jobs import run_export
from runtime.lifecycle.storage import DirectoryFiles, ExportFiles, S3Location, parse_destination
from runtime.lifecycle.wiring import LifecycleWiring, principal
from runtime.wiring.clients import aws_client

# Replaced in tests: builds the adapters from the environment.
make_wiring: Callable[[Mapping[str, str]], LifecycleWiring] = LifecycleWiring.from_environment
make_s3_client: Callable[[], Any] = partial(aws_client, "s3")


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    export = subparsers.add_parser("export", help="portability export of an organisation's data (P13)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--org", type=uuid_argument, metavar="ORG", help="the organisation (owner) id")
    export.add_argument("--format", choices=[f.value for f in ExportFormat])
    export.add_argument("--dest", help="s3://bucket/prefix or a directory (default: the export bucket)")
    export.add_argument("--request", type=uuid_argument, metavar="ID", help="run this export request")
    export.add_argument("--contract-ended-at", type=utc_time, metavar="T",
                        help=time_help("when the contract ended, for a new request (default: now)"))
    export.add_argument("--actor", type=uuid_argument, metavar="ID", help="who asked (pseudonymous id, for the audit)")
    export.add_argument("--show-urls", action="store_true", help="print the presigned download URLs")
    export.set_defaults(handler=export_command)
    commands = export.add_subparsers(dest="export_command", metavar="EXPORT_COMMAND")
    verify = commands.add_parser("verify", help="check an export against its manifest")
    verify.add_argument("location", help="the export's directory or s3://bucket/prefix/ORG/EXPORT/")
    verify.add_argument("--manifest-sha256", metavar="HEX", help="the digest recorded with the export request")
    verify.set_defaults(handler=verify_command)
    status = commands.add_parser("status", help="an organisation's export requests")
    status.add_argument("--org", type=uuid_argument, required=True, metavar="ORG", dest="status_org")
    status.set_defaults(handler=status_command)


def export_command(args: argparse.Namespace) -> int:
    if args.org is None or args.format is None:
        print("error: export needs --org and --format (or a sub-command: verify, status)", file=sys.stderr)
        return 2
    wiring = make_wiring(os.environ)
    try:
        if args.dest:
            destination = parse_destination(args.dest)
        else:
            default = wiring.default_destination()
            if default is None:
                raise ExportDestinationError(f"give --dest, or set {settings.EXPORTS_BUCKET} (the export bucket)")
            destination = default
        job = wiring.export_job(to_s3=isinstance(destination, S3Location))
        outcome = run_export(job, principal(args.org, args.actor, "export"), ExportFormat(args.format), destination,
                             request_id=args.request, contract_ended_at=args.contract_ended_at)
    finally:
        wiring.close()
    report: dict[str, Any] = {
        **outcome.request.public(),
        "location": outcome.result.location,
        "files": list(outcome.result.files),
    }
    if outcome.download_urls:
        report["download_urls_expire_in_seconds"] = job.url_expiry_seconds
        if args.show_urls:
            report["download_urls"] = outcome.download_urls
    print(json.dumps(report, indent=2))
    return 0


def verify_command(args: argparse.Namespace) -> int:
    where = parse_destination(args.location)
    files: ExportFiles
    if isinstance(where, S3Location):
        from runtime.lifecycle.s3 import S3ExportFiles

        files = S3ExportFiles(make_s3_client(), where)
    else:
        files = DirectoryFiles(where)
    report = verify_export(files, expected_manifest_sha256=args.manifest_sha256)
    print(report.describe())
    return 0 if report.ok else 1


def status_command(args: argparse.Namespace) -> int:
    wiring = make_wiring(os.environ)
    try:
        requests = LifecycleRequests(wiring.database).export_requests(principal(args.status_org, None, "status"))
    finally:
        wiring.close()
    print(json.dumps([{**r.public(), "location": r.location} for r in requests], indent=2))
    return 0
