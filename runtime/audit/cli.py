"""`python -m runtime audit ...`: verify the chain, or write a checkpoint. Thin: parse, wire, report.

    verify      exit 0 when intact, 1 at the first bad position (printed), 2 on a setup error
    checkpoint  prints `SEQ:HASH`; keep it outside the database and pass it to `verify --trust`

The chain key comes from PLATFORM_AUDIT_CHAIN_KEY (ECS injects it) or, with --key-secret-id, from
Secrets Manager. Verify reads the support.* views, so the support and jobs roles can run it.
"""

import argparse
from collections.abc import Mapping

from runtime.audit.chain import ChainKey, TrustedCheckpoint
from runtime.audit.keys import chain_key_from_environment, chain_key_from_secrets_manager
from runtime.audit.ledger import AuditLedger, verify_ledger
from runtime.db.cli import ClientFactory, connect_from_environment


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    audit = commands.add_parser("audit", help="the tamper-evident audit trail (P14)")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="check the hash chain; report the first bad position")
    verify.add_argument(
        "--trust", action="append", default=[], metavar="SEQ:HASH", type=TrustedCheckpoint.parse,
        help="a checkpoint kept outside the database (repeatable)",
    )
    checkpoint = sub.add_parser("checkpoint", help="checkpoint the chain head and print SEQ:HASH")
    for parser in (verify, checkpoint):
        parser.add_argument("--key-secret-id", help="read the chain key from this Secrets Manager secret")


def _key(args: argparse.Namespace, environ: Mapping[str, str], clients: ClientFactory) -> ChainKey:
    if args.key_secret_id:
        return chain_key_from_secrets_manager(clients("secretsmanager"), args.key_secret_id)
    return chain_key_from_environment(environ)


def run(args: argparse.Namespace, environ: Mapping[str, str], clients: ClientFactory) -> int:
    key = _key(args, environ, clients)
    with connect_from_environment(environ, clients) as conn:
        if args.audit_command == "checkpoint":
            checkpoint = AuditLedger(key).checkpoint(conn)
            print("the audit ledger is empty" if checkpoint is None else checkpoint.token())
            return 0
        report = verify_ledger(conn, key, trusted=args.trust)
    print(report.describe())
    return 0 if report.ok else 1
