"""`python -m runtime audit ...`: verify the hash chain, or checkpoint it (P14).

    audit verify [--trust SEQ:HASH ...]   exit 0 when intact; exit 1 and the first bad position otherwise
    audit checkpoint                      prints SEQ:HASH; keep it outside the database for `verify --trust`

The chain key comes from PLATFORM_AUDIT_CHAIN_KEY (ECS injects it from Secrets Manager) or, with
--key-secret-id, straight from Secrets Manager. Verify reads the support.* views, so the support
and jobs roles can run it.
"""

import argparse
import os
from typing import Any

from runtime import bounds
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment, chain_key_from_secrets_manager
from runtime.cli.arguments import trusted_checkpoint
from runtime.cli.wiring import connect_from_environment
from runtime.db.ledger import AuditLedger, verify_ledger
from runtime.wiring.clients import aws_client


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    audit = subparsers.add_parser("audit", help="the tamper-evident audit trail (P14)")
    commands = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    verify = commands.add_parser("verify", help="check the hash chain; report the first bad position")
    verify.add_argument(
        "--trust", action="append", default=[], metavar="SEQ:HASH", type=trusted_checkpoint,
        help=f"a checkpoint kept outside the database (repeatable); SEQ {bounds.CHECKPOINT_SEQ.describe()}, "
        "HASH 64 hex digits",
    )
    verify.set_defaults(handler=verify_command)
    checkpoint = commands.add_parser("checkpoint", help="checkpoint the chain head and print SEQ:HASH")
    checkpoint.set_defaults(handler=checkpoint_command)
    for parser in (verify, checkpoint):
        parser.add_argument("--key-secret-id", help="read the chain key from this Secrets Manager secret")


def _key(args: argparse.Namespace) -> ChainKey:
    if args.key_secret_id:
        return chain_key_from_secrets_manager(aws_client("secretsmanager"), args.key_secret_id)
    return chain_key_from_environment(os.environ)


def verify_command(args: argparse.Namespace) -> int:
    key = _key(args)
    with connect_from_environment() as conn:
        report = verify_ledger(conn, key, trusted=args.trust)
    print(report.describe())
    return 0 if report.ok else 1


def checkpoint_command(args: argparse.Namespace) -> int:
    key = _key(args)
    with connect_from_environment() as conn:
        checkpoint = AuditLedger(key).checkpoint(conn)
    print("the audit ledger is empty" if checkpoint is None else checkpoint.token())
    return 0
