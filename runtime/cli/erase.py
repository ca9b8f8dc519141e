"""`python -m runtime erase ...`: erasure on request (P10). Thin: parse, wire, report.

    erase --org ORG [--actor ID] [--receipt-out FILE]
        fence writes out, delete every row of the organisation in every SENSITIVE and derived table, destroy
        its data keys, delete its exports, and print the signed receipt (JSON: ids, counts and times only).
        Idempotent and resumable: re-run after a crash to finish; re-run after success prints the same
        receipt. An unknown organisation is an error (exit 1), never a success.
    erase verify --org ORG [--receipt FILE]
        prove nothing of the organisation remains readable; exit 1 when a check fails.
    erase verify-receipt FILE [--public-key PEM] [--hmac-key-secret-id ID]
        check a receipt on its own (the owner can run this): a signed receipt (version 2) with the public key
        in the PEM file (GET /v1/erasure-receipts/public-key gives it), with `cryptography` only and no AWS
        call; without --public-key, the key the receipt names is fetched (kms:GetPublicKey, this process's
        AWS credentials and region). An old MAC'd receipt (version 1) with the operator's key:
        PLATFORM_ERASURE_RECEIPT_KEY, or the secret --hmac-key-secret-id names. Exit 0 valid, 1 invalid (the
        reason is printed), 2 bad arguments (an unreadable FILE or PEM).
    erase register
        every completed erasure (organisation, erasure id, time), one JSON object per line. After restoring
        a backup, run `erase --org` on the restored database for each before cutting over: the backup
        predates them and holds the organisations' keys and data.

`erase` and `erase verify` need PLATFORM_LONGEST_BACKUP_RETENTION_DAYS and a receipt-signing key:
PLATFORM_RECEIPT_SIGNING_KEY_ID, or a local one in local runs and tests (fail closed without them).
PLATFORM_ERASURE_RECEIPT_KEY, when set, verifies receipts issued before receipts were signed.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runtime import settings
from runtime.cli.arguments import uuid_argument
from runtime.errors import ReceiptError
from runtime.lifecycle.erasure import completed_erasures, verify_erasure
from runtime.lifecycle.receipt import (
    MAC_VERSION,
    ErasureReceipt,
    PublicKeySource,
    ReceiptKey,
    ReceiptVerifier,
    load_receipt,
    receipt_version,
    verify_receipt,
)
from runtime.lifecycle.receipt_signing import ReceiptPublicKey, fetch_public_key
from runtime.lifecycle.wiring import LifecycleWiring, principal
from runtime.wiring.clients import ClientFactory, aws_client

# Replaced in tests: builds the adapters from the environment; the AWS clients verify-receipt uses.
make_wiring: Callable[[Mapping[str, str]], LifecycleWiring] = LifecycleWiring.from_environment
clients: ClientFactory = aws_client
EXIT_USAGE = 2  # bad arguments, as argparse exits (runtime.cli.EXIT_USAGE)


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
    check = commands.add_parser(
        "verify-receipt", help="check an erasure receipt offline (signature, or an old receipt's MAC)",
        description="Exit 0: the receipt is valid; 1: it is not (the reason is printed); 2: bad arguments.")
    check.add_argument("receipt_file", type=Path, metavar="FILE", help="the receipt (JSON)")
    check.add_argument("--public-key", type=Path, metavar="PEM",
                       help="the signing key's public key (PEM): verify offline, no AWS call")
    check.add_argument("--hmac-key-secret-id", metavar="ID",
                       help="old (version 1) receipts: the Secrets Manager secret holding the receipt MAC key "
                       "(default: PLATFORM_ERASURE_RECEIPT_KEY)")
    check.set_defaults(handler=verify_receipt_command)
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
            receipt_key=wiring.receipt_keys(),
            principal=principal(args.verify_org, None, "erase-verify"), receipt=given,
            exports=wiring.export_objects(), organisation_keys=wiring.organisation_keys(),
        )
    finally:
        wiring.close()
    print(report.describe())
    return 0 if report.ok else 1


def verify_receipt_command(args: argparse.Namespace) -> int:
    try:
        raw = args.receipt_file.read_bytes()
        pem = args.public_key.read_bytes() if args.public_key else None
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        receipt = _checked(raw, pem, args.hmac_key_secret_id)
    except ReceiptError as exc:
        print(f"receipt INVALID: {exc}")
        return 1
    by = f"signature verifies with {receipt.signing_key_id}" if receipt.version != MAC_VERSION else \
        "MAC verifies with the operator's receipt key"
    print(f"receipt VALID (version {receipt.version}, {by}): erasure {receipt.erasure_id} of organisation "
          f"{receipt.owner_id} in {receipt.environment}, {receipt.rows_total} rows and "
          f"{receipt.data_keys_destroyed} data key(s) destroyed at {receipt.erased_at.isoformat()}, complete "
          f"everywhere by {receipt.complete_everywhere_by.isoformat()}")
    return 0



def _checked(raw: bytes, pem: bytes | None, hmac_secret_id: str | None) -> ErasureReceipt:
    document = load_receipt(raw)
    verifier: ReceiptVerifier | PublicKeySource
    if receipt_version(document) == MAC_VERSION:
        verifier = _mac_key(hmac_secret_id)
    elif pem is not None:
        verifier = ReceiptPublicKey.from_pem(pem)
    else:
        def fetched(key_id: str) -> ReceiptPublicKey:
            return fetch_public_key(clients("kms"), key_id)

        verifier = fetched
    return verify_receipt(verifier, document)


def _mac_key(secret_id: str | None) -> ReceiptKey:
    if not secret_id:
        return ReceiptKey.from_environment(os.environ)
    client = clients("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except Exception as exc:  # botocore: access denied, not found, no credentials
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ReceiptError(f"cannot read the receipt MAC key from {secret_id} ({code})") from None
    if not isinstance(value, str):
        raise ReceiptError(f"the secret {secret_id} holds no text key")
    return ReceiptKey.from_environment({settings.ERASURE_RECEIPT_KEY: value})


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
