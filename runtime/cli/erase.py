"""`python -m runtime erase ...`: erasure on request (P10). Thin: parse, wire, report.

    erase --org ORG [--actor ID] [--receipt-out FILE]
        fence writes out, delete every row of the organisation in every SENSITIVE and derived table, destroy
        its data keys, delete its exports, and print the MAC'd receipt (JSON: ids, counts and times only).
        Idempotent and resumable: re-run after a crash to finish; re-run after success prints the same
        receipt. An unknown organisation is an error (exit 1), never a success.
    erase verify --org ORG [--receipt FILE]
        prove nothing of the organisation remains readable; exit 1 when a check fails.
    erase register
        every completed erasure (organisation, erasure id, time), one JSON object per line. After restoring
        a backup, run `erase --org` on the restored database for each before cutting over: the backup
        predates them and holds the organisations' keys and data.

Needs PLATFORM_LONGEST_BACKUP_RETENTION_DAYS and PLATFORM_ERASURE_RECEIPT_KEY (fails closed without them).
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runtime.cli.arguments import uuid_argument
from runtime.errors import ReceiptError
from runtime.lifecycle.erasure import completed_erasures, verify_erasure
from runtime.lifecycle.receipt import ReceiptKey
from runtime.lifecycle.wiring import LifecycleWiring, principal

# Replaced in tests: builds the adapters from the environment.
make_wiring: Callable[[Mapping[str, str]], LifecycleWiring] = LifecycleWiring.from_environment


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    erase = subparsers.add_parser("erase", help="erase an organisation's data, with a receipt (P10)",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    erase.add_argument("--org", type=uuid_argument, metavar="ORG", help="the organisation (owner) id")
    erase.add_argument("--actor", type=uuid_argument, metavar="ID", help="who asked (pseudonymous id, for the audit)")
    erase.add_argument("--receipt-out", type=Path, metavar="FILE", help="also write the receipt to FILE")
    erase.set_defaults(handler=erase_command)
    commands = erase.add_subparsers(dest="erase_command", metavar="ERASE_COMMAND")
    verify = commands.add_parser("verify", help="prove nothing of the organisation remains readable")
    verify.add_argument("--org", type=uuid_argument, required=True, metavar="ORG", dest="verify_org")
    verify.add_argument("--receipt", type=Path, metavar="FILE", help="also check this receipt")
    verify.set_defaults(handler=verify_command)
    register_ = commands.add_parser("register", help="every completed erasure, for replay after a restore")
    register_.set_defaults(handler=register_command)


def erase_command(args: argparse.Namespace) -> int:
    if args.org is None:
        print("error: erase needs --org (or a sub-command: verify, register)", file=sys.stderr)
        return 2
    wiring = make_wiring(os.environ)
    try:
        receipt = wiring.eraser().erase(principal(args.org, args.actor, "erase"))
    finally:
        wiring.close()
    text = json.dumps(receipt, indent=2, sort_keys=True)
    if args.receipt_out:
        args.receipt_out.write_text(text + "\n")
    print(text)
    return 0


def verify_command(args: argparse.Namespace) -> int:
    given: object | None = None
    if args.receipt:
        try:
            given = json.loads(args.receipt.read_text())
        except (OSError, ValueError):
            raise ReceiptError(f"cannot read a JSON receipt from {args.receipt}") from None
    wiring = make_wiring(os.environ)
    try:
        report = verify_erasure(
            database=wiring.database, key_store=wiring.key_store, fresh_cipher=wiring.cipher,
            receipt_key=ReceiptKey.from_environment(wiring.environ),
            principal=principal(args.verify_org, None, "erase-verify"), receipt=given,
            exports=wiring.export_objects(),
        )
    finally:
        wiring.close()
    print(report.describe())
    return 0 if report.ok else 1


def register_command(args: argparse.Namespace) -> int:
    wiring = make_wiring(os.environ)
    try:
        with wiring.pool.connection() as conn:
            erasures = completed_erasures(conn)
    finally:
        wiring.close()
    for erasure in erasures:
        print(json.dumps({"owner_id": str(erasure.owner_id), "erasure_id": str(erasure.erasure_id),
                          "completed_at": erasure.completed_at.isoformat()}))
    return 0
