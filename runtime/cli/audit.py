"""`python -m runtime audit ...`: sequence the audit trail, or verify it (P14).

    audit sequence                  the sequencer service: chain queued events, sign checkpoints (runs until
                                    SIGTERM); one leads, others wait on an advisory lock
    audit verify [--workers N]      exit 0 when intact; exit 1 and the first bad position otherwise

Verify trusts nothing in the database: it checks the chain against the checkpoints signed with the environment's
KMS key (PLATFORM_AUDIT_SIGNING_KEY_ID: it reads the public key) and kept in the Object Lock bucket
(PLATFORM_AUDIT_CHECKPOINT_BUCKET). A ledger older than migration 0012 also needs the chain key for its HMAC-linked
positions (PLATFORM_AUDIT_CHAIN_KEY, or --key-secret-id). Verify reads the support.* views, so the support and
jobs roles can run it; the sequencer runs as platform_sequencer.
"""

import argparse
import logging
import os
import signal
import threading
from typing import Any

from runtime import bounds, settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment, chain_key_from_secrets_manager
from runtime.cli.arguments import whole_number
from runtime.cli.wiring import connect_from_environment
from runtime.db.audit_verify import Trust, verify_audit_trail
from runtime.db.sequencer import Sequencer, SequencerConfig, run
from runtime.wiring import audit_trail
from runtime.wiring.clients import aws_client


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    audit = subparsers.add_parser("audit", help="the tamper-evident audit trail (P14)")
    commands = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    verify = commands.add_parser("verify", help="check the chain against the signed checkpoints; report the "
                                 "first bad position")
    verify.add_argument("--workers", type=whole_number(bounds.VERIFY_WORKERS), default=os.cpu_count() or 1,
                        help=f"worker processes ({bounds.VERIFY_WORKERS.describe()}; default: one per CPU)")
    verify.add_argument("--key-secret-id", help="read the chain key (for positions before the cut-over to "
                        "signed checkpoints) from this Secrets Manager secret")
    verify.set_defaults(handler=verify_command)
    sequence = commands.add_parser("sequence", help="chain queued events and sign checkpoints until stopped")
    sequence.set_defaults(handler=sequence_command)


def chain_key_for(args: argparse.Namespace) -> ChainKey | None:
    """The chain key for positions before the cut-over to signed checkpoints (--key-secret-id, else the
    environment), or None when the ledger has none: `audit verify` and `verify-deployed` read it alike."""
    if args.key_secret_id:
        return chain_key_from_secrets_manager(aws_client("secretsmanager"), args.key_secret_id)
    if os.environ.get(settings.AUDIT_CHAIN_KEY, "").strip():
        return chain_key_from_environment(os.environ)
    return None


def trust_from_environment() -> Trust:
    return Trust(audit_trail.checkpoint_public_key(), audit_trail.environment_name(os.environ),
                 audit_trail.checkpoint_bucket(), audit_trail.cadence())


def verify_command(args: argparse.Namespace) -> int:
    report = verify_audit_trail(connect_from_environment, trust_from_environment(), chain_key=chain_key_for(args),
                                workers=args.workers)
    print(report.describe())
    return 0 if report.ok else 1


def sequence_command(args: argparse.Namespace) -> int:
    cadence = audit_trail.cadence()
    config = SequencerConfig(audit_trail.environment_name(os.environ), every=cadence.every, seconds=cadence.seconds)
    sequencer = Sequencer(config, audit_trail.checkpoint_signer(), audit_trail.checkpoint_bucket())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(connect_from_environment, sequencer, stop=stop)
    return 0
