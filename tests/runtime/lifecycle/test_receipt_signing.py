"""Signed erasure receipts (P10): the canonical form, sign/verify with the local signer and with KMS (moto), any
changed byte refused, old MAC'd receipts still verify, the signer's guards, and `erase verify-receipt`."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from moto import mock_aws

from runtime import cli, settings
from runtime.cli import erase as erase_cli
from runtime.db.schema import RECORD_TABLES
from runtime.errors import ConfigurationError, ReceiptError, ReceiptSigningError
from runtime.lifecycle.receipt import (
    MAC_VERSION,
    VERSION,
    ErasureReceipt,
    ReceiptKey,
    ReceiptKeys,
    canonical,
    load_receipt,
    verify_receipt,
)
from runtime.lifecycle.receipt_signing import (
    MAX_MESSAGE_BYTES,
    KmsReceiptSigner,
    LocalReceiptSigner,
    ReceiptPublicKey,
    choose_receipt_signer,
)

SIGNER = LocalReceiptSigner.generate()
MAC_KEY = ReceiptKey(b"m" * 40)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _receipt(**overrides: Any) -> ErasureReceipt:
    values: dict[str, Any] = {
        "erasure_id": uuid.UUID("0b7c3b9e-6f7e-4c53-9a43-3f1d5a0d2c11"),
        "owner_id": uuid.UUID("5d2f7c1a-3b4e-4f6a-8c9d-0e1f2a3b4c5d"),
        "environment": "prod", "requested_at": T0, "erased_at": T0.replace(minute=5),
        "longest_backup_retention_days": 35, "dek_cache_max_age_seconds": 300.0,
        "rows_deleted": {"prompts": 12, "users": 3, "organisations": 1}, "data_keys_destroyed": 2,
        "export_objects_deleted": 4, "local_exports_not_reached": 0,
    }
    values.update(overrides)
    return ErasureReceipt(**values)


SIGNED = _receipt().signed(SIGNER)


def test_receipt_signed_fields_version_key_id_and_base64_der() -> None:
    assert SIGNED["version"] == VERSION == 3
    assert SIGNED["signature_algorithm"] == "ECDSA_SHA_256" and SIGNED["signing_key_id"] == SIGNER.key_id
    assert "mac" not in SIGNED and "mac_algorithm" not in SIGNED
    der = base64.b64decode(SIGNED["signature"], validate=True)
    assert der[0] == 0x30  # an ASN.1 SEQUENCE (r, s)


def test_receipt_canonical_form_sorted_compact_ascii() -> None:
    body = {k: v for k, v in SIGNED.items() if k != "signature"}
    raw = canonical(body)
    assert raw == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert b" " not in raw and raw.startswith(b'{"complete_everywhere_by":')
    assert canonical({"b": 1, "a": "\u00e9"}) == b'{"a":"\\u00e9","b":1}'


def test_receipt_signature_verifies_with_cryptography_alone() -> None:
    """What a customer's own script does: the PEM, the canonical bytes, ECDSA P-256 / SHA-256."""
    public = serialization.load_pem_public_key(SIGNER.public_key().pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    body = {k: v for k, v in SIGNED.items() if k != "signature"}
    public.verify(base64.b64decode(SIGNED["signature"]), canonical(body), ec.ECDSA(hashes.SHA256()))


def test_verify_receipt_local_signer_round_trip_valid() -> None:
    for verifier in (SIGNER.public_key(), ReceiptKeys(SIGNER), lambda key_id: SIGNER.public_key()):
        receipt = verify_receipt(verifier, json.loads(json.dumps(SIGNED)))
        assert receipt.rows_total == 16 and receipt.signing_key_id == SIGNER.key_id and receipt.version == 3


def test_verify_receipt_every_field_changed_refused() -> None:
    changes: dict[str, Any] = {
        "kind": "other", "version": 4, "erasure_id": str(uuid.uuid4()), "owner_id": str(uuid.uuid4()),
        "environment": "dev", "requested_at": "2026-03-01T12:00:00.000001+00:00",
        "erased_at": "2026-03-01T12:05:00.000001+00:00", "complete_everywhere_by": "2026-03-02T00:00:00.000000+00:00",
        "longest_backup_retention_days": 0, "dek_cache_max_age_seconds": 301.0, "rows_deleted": {"prompts": 12},
        "rows_total": 0, "data_keys_destroyed": 0, "export_objects_deleted": 0, "local_exports_not_reached": 1,
        "signature_algorithm": "ECDSA_SHA_384", "signing_key_id": LocalReceiptSigner.generate().key_id,
        "signature": base64.b64encode(b"0" * 70).decode(),
        "keyring_mode": "per-organisation", "organisation_key": "deletion-scheduled",
        "key_deletion_pending_days": 7, "key_deletion_scheduled_at": "2026-03-01T12:05:00.000000+00:00",
    }
    assert set(changes) == set(SIGNED)
    for name, value in changes.items():
        with pytest.raises(ReceiptError):
            verify_receipt(SIGNER.public_key(), {**SIGNED, name: value})
    for name in set(SIGNED) - {"kind", "version"}:  # without those two it is not a receipt at all
        with pytest.raises(ReceiptError, match=f"missing {name}"):
            verify_receipt(SIGNER.public_key(), {k: v for k, v in SIGNED.items() if k != name})
    with pytest.raises(ReceiptError, match="unexpected extra"):
        verify_receipt(SIGNER.public_key(), {**SIGNED, "extra": 1})


def _verdict(raw: bytes) -> ErasureReceipt | None:
    try:
        return verify_receipt(SIGNER.public_key(), load_receipt(raw))
    except ReceiptError:
        return None


COMPACT = canonical(SIGNED)
PRETTY = json.dumps(SIGNED, indent=2, sort_keys=True).encode()


def _non_canonical(encoded: str) -> str:
    """The same signature bytes, base64 with different unused bits in its last data character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    padding = len(encoded) - len(encoded.rstrip("="))
    last = len(encoded) - padding - 1
    unused = {0: 0, 1: 2, 2: 4}[padding]  # bits of the last character that encode nothing
    value = alphabet.index(encoded[last]) ^ ((1 << unused) - 1 or 1)
    return encoded[:last] + alphabet[value] + encoded[last + 1:]


def test_verify_receipt_non_canonical_base64_signature_refused() -> None:
    # A decoder ignores the unused bits of a padded base64's last character: without the canonical check two
    # spellings were one signature, so a receipt with a flipped bit there still verified (found by a CI run).
    padded = next(signed for signed in (_receipt().signed(SIGNER) for _ in range(200))
                  if str(signed["signature"]).endswith("="))  # DER signatures vary in length: some are padded
    verify_receipt(SIGNER.public_key(), padded)
    changed = _non_canonical(str(padded["signature"]))
    assert changed != padded["signature"]
    assert base64.b64decode(changed) == base64.b64decode(str(padded["signature"]))
    with pytest.raises(ReceiptError, match="not base64"):
        verify_receipt(SIGNER.public_key(), {**padded, "signature": changed})


def test_verify_receipt_same_signature_bytes_other_spelling_refused() -> None:
    signature = base64.b64decode(str(SIGNED["signature"]))
    spelled = base64.b64encode(signature).decode()
    assert spelled == SIGNED["signature"]
    for trailing in ("\n", " "):  # whitespace base64 decoders may tolerate
        with pytest.raises(ReceiptError):
            verify_receipt(SIGNER.public_key(), {**SIGNED, "signature": spelled + trailing})


def test_verify_receipt_each_byte_of_compact_form_flipped_refused() -> None:
    assert _verdict(COMPACT) is not None
    for i in range(len(COMPACT)):
        for mask in (0x01, 0x20, 0x80):
            flipped = bytearray(COMPACT)
            flipped[i] ^= mask
            assert _verdict(bytes(flipped)) is None, f"byte {i} ^ {mask:#x} was accepted"


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(PRETTY) - 1), st.integers(min_value=1, max_value=255))
def test_verify_receipt_any_byte_changed_refused_or_same_document(position: int, mask: int) -> None:
    """A changed byte is refused, unless it only changed whitespace between tokens (the same JSON value: the
    receipt is its value, and every value, field name and field count is covered by the signature)."""
    changed = bytearray(PRETTY)
    changed[position] ^= mask
    verdict = _verdict(bytes(changed))
    if verdict is not None:
        assert PRETTY[position : position + 1] in b" \n" and chr(changed[position]) in " \t\n\r"
        assert load_receipt(bytes(changed)) == SIGNED


def test_load_receipt_duplicate_field_or_nan_refused() -> None:
    text = COMPACT.decode()
    with pytest.raises(ReceiptError, match="repeats the field"):
        load_receipt(text[:-1] + ',"rows_total":16}')
    with pytest.raises(ReceiptError, match="NaN"):
        load_receipt(text.replace('"dek_cache_max_age_seconds":300.0', '"dek_cache_max_age_seconds":NaN'))
    with pytest.raises(ReceiptError, match="not a JSON object"):
        load_receipt("[1]")
    with pytest.raises(ReceiptError, match="not valid JSON"):
        load_receipt(b"\xff")


def test_verify_receipt_other_key_refused_with_its_id() -> None:
    other = LocalReceiptSigner.generate()
    with pytest.raises(ReceiptError, match="does not verify with"):
        verify_receipt(other.public_key(), SIGNED)
    with pytest.raises(ReceiptError, match=f"names signing key {SIGNER.key_id}"):
        verify_receipt(ReceiptKeys(other), SIGNED)


def test_verify_receipt_old_mac_receipt_verifies_with_mac_key() -> None:
    old = _receipt().maced(MAC_KEY)
    assert old["version"] == MAC_VERSION and old["mac_algorithm"] == "HMAC-SHA256"
    assert verify_receipt(MAC_KEY, old).rows_total == 16
    assert verify_receipt(ReceiptKeys(SIGNER, MAC_KEY), old).version == MAC_VERSION
    with pytest.raises(ReceiptError, match="MAC does not verify"):
        verify_receipt(MAC_KEY, {**old, "rows_total": 0})
    with pytest.raises(ReceiptError, match="only the operator's receipt MAC key"):
        verify_receipt(ReceiptKeys(SIGNER), old)
    with pytest.raises(ReceiptError, match="public key, not the MAC key"):
        verify_receipt(MAC_KEY, SIGNED)


def test_receipt_largest_possible_body_fits_kms_raw_limit() -> None:
    big = _receipt(rows_deleted={table: 10**15 for table in RECORD_TABLES}, data_keys_destroyed=10**9,
                   export_objects_deleted=10**9, local_exports_not_reached=10**9)
    arn = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-" + "0" * 32
    assert len(canonical(big.body(arn))) < MAX_MESSAGE_BYTES
    with pytest.raises(ReceiptSigningError, match="at most 4096"):
        SIGNER.sign(b"x" * (MAX_MESSAGE_BYTES + 1))


# --- KMS (moto) ---------------------------------------------------------------------------------------


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="eu-west-1")


def _signing_key(kms: Any) -> str:
    return str(kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


def test_kms_signer_round_trip_names_key_arn(kms: Any) -> None:
    arn = _signing_key(kms)
    alias = "alias/adp/prod/receipt-signing"
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    signer = KmsReceiptSigner(kms, arn)
    signed = _receipt().signed(ReceiptKeys(signer))
    assert signed["signing_key_id"] == arn
    by_alias = _receipt().signed(KmsReceiptSigner(kms, alias))  # real KMS names the ARN, moto the key id
    assert verify_receipt(signer.public_key(), by_alias).signing_key_id.endswith(arn.rsplit("/", 1)[1])
    assert verify_receipt(ReceiptKeys(signer), signed).signing_key_id == arn
    published = ReceiptPublicKey.from_pem(signer.public_key().pem, arn)  # what the route publishes
    assert verify_receipt(published, signed).owner_id == _receipt().owner_id
    with pytest.raises(ReceiptError):
        verify_receipt(published, {**signed, "rows_total": 1})


def test_kms_signer_public_key_fetched_once(kms: Any) -> None:
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(kms, name)

    signer = KmsReceiptSigner(Counting(), _signing_key(kms))
    for _ in range(3):
        _receipt().signed(signer)
        signer.public_key()
    assert calls.count("get_public_key") == 1 and calls.count("sign") == 3


def test_kms_signer_symmetric_key_refused_with_typed_error(kms: Any) -> None:
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ReceiptSigningError, match="ECC_NIST_P256 SIGN_VERIFY"):
        KmsReceiptSigner(kms, arn).public_key()


def test_kms_signer_unknown_key_typed_error_no_traceback(kms: Any) -> None:
    with pytest.raises(ReceiptSigningError, match=r"kms:GetPublicKey of .* failed: NotFoundException"):
        _receipt().signed(KmsReceiptSigner(kms, "arn:aws:kms:eu-west-1:123456789012:key/" + str(uuid.uuid4())))


# --- The guard --------------------------------------------------------------------------------------------


PEM = SIGNER.private_pem().decode()


def test_choose_receipt_signer_local_in_test_allowed() -> None:
    choice = choose_receipt_signer({settings.LOCAL_RECEIPT_SIGNING_KEY: PEM}, "test")
    assert choice.signer().key_id == SIGNER.key_id


def test_choose_receipt_signer_local_key_file_read(tmp_path: Path) -> None:
    path = tmp_path / "receipt.pem"
    path.write_text(PEM)
    assert choose_receipt_signer({settings.LOCAL_RECEIPT_SIGNING_KEY_FILE: str(path)}, "local").local is not None


@pytest.mark.parametrize("environment", ["dev", "qa", "prod"])
def test_choose_receipt_signer_local_outside_local_test_refused(environment: str) -> None:
    with pytest.raises(ConfigurationError, match="local runs and tests only"):
        choose_receipt_signer({settings.LOCAL_RECEIPT_SIGNING_KEY: PEM}, environment)


def test_choose_receipt_signer_both_refused() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        choose_receipt_signer({settings.LOCAL_RECEIPT_SIGNING_KEY: PEM,
                               settings.RECEIPT_SIGNING_KEY_ID: "arn:aws:kms:eu-west-1:1:key/x"}, "test")


def test_choose_receipt_signer_none_refused_naming_settings() -> None:
    with pytest.raises(ConfigurationError, match=settings.RECEIPT_SIGNING_KEY_ID):
        choose_receipt_signer({}, "prod")


def test_choose_receipt_signer_kms_builds_client_from_factory() -> None:
    built: list[str] = []
    choice = choose_receipt_signer({settings.RECEIPT_SIGNING_KEY_ID: "arn:aws:kms:eu-west-1:1:key/x"}, "prod")
    assert isinstance(choice.signer(lambda service: built.append(service)), KmsReceiptSigner)
    assert built == ["kms"]


def test_local_signer_not_an_ec_key_refused() -> None:
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM private key"):
        LocalReceiptSigner.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="P-256"):
        LocalReceiptSigner(ec.generate_private_key(ec.SECP384R1()))


# --- `erase verify-receipt` -------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"receipt": tmp_path / "receipt.json", "pem": tmp_path / "key.pem", "old": tmp_path / "old.json"}
    paths["receipt"].write_text(json.dumps(SIGNED, indent=2, sort_keys=True))
    paths["pem"].write_text(SIGNER.public_key().pem)
    paths["old"].write_text(json.dumps(_receipt().maced(MAC_KEY)))
    return paths


def _no_aws(service: str) -> Any:
    raise AssertionError(f"verify-receipt called AWS ({service}) although --public-key was given")


def test_cli_verify_receipt_offline_valid_exit_0(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(erase_cli, "clients", _no_aws)
    assert cli.main(["erase", "verify-receipt", str(files["receipt"]), "--public-key", str(files["pem"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("receipt VALID (version 3") and SIGNER.key_id in out and "2026-04-05T12:05:00" in out


def test_cli_verify_receipt_tampered_exit_1_with_reason(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(erase_cli, "clients", _no_aws)
    files["receipt"].write_text(files["receipt"].read_text().replace('"rows_total": 16', '"rows_total": 15'))
    assert cli.main(["erase", "verify-receipt", str(files["receipt"]), "--public-key", str(files["pem"])]) == 1
    out = capsys.readouterr().out
    assert out.startswith("receipt INVALID: the receipt's signature does not verify") and "Traceback" not in out


def test_cli_verify_receipt_not_json_exit_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["receipt"].write_text("not json")
    assert cli.main(["erase", "verify-receipt", str(files["receipt"]), "--public-key", str(files["pem"])]) == 1
    assert "not valid JSON" in capsys.readouterr().out


def test_cli_verify_receipt_bad_arguments_exit_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.json")
    assert cli.main(["erase", "verify-receipt", missing, "--public-key", str(files["pem"])]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["erase", "verify-receipt", str(files["receipt"]), "--public-key", missing]) == 2
    with pytest.raises(SystemExit) as exited:
        cli.main(["erase", "verify-receipt"])
    assert exited.value.code == 2


def test_cli_verify_receipt_bad_pem_exit_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["pem"].write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert cli.main(["erase", "verify-receipt", str(files["receipt"]), "--public-key", str(files["pem"])]) == 1
    assert "not a PEM public key" in capsys.readouterr().out


def test_cli_verify_receipt_without_public_key_fetches_named_key(
    kms: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = _receipt().signed(KmsReceiptSigner(kms, _signing_key(kms)))
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(signed))
    monkeypatch.setattr(erase_cli, "clients", lambda service: kms)
    assert cli.main(["erase", "verify-receipt", str(path)]) == 0
    assert signed["signing_key_id"] in capsys.readouterr().out


def test_cli_verify_receipt_old_mac_receipt_with_operator_key_exit_0(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(os.environ, settings.ERASURE_RECEIPT_KEY, "m" * 40)
    assert cli.main(["erase", "verify-receipt", str(files["old"])]) == 0
    assert "receipt VALID (version 1, MAC verifies" in capsys.readouterr().out
    monkeypatch.setitem(os.environ, settings.ERASURE_RECEIPT_KEY, "x" * 40)
    assert cli.main(["erase", "verify-receipt", str(files["old"])]) == 1
    assert "MAC does not verify" in capsys.readouterr().out


def test_cli_verify_receipt_old_mac_receipt_key_from_secret_exit_0(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(os.environ, settings.ERASURE_RECEIPT_KEY, raising=False)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = secrets.create_secret(Name="adp/prod/receipt-key", SecretString="m" * 40)["ARN"]
        monkeypatch.setattr(erase_cli, "clients", lambda service: secrets)
        assert cli.main(["erase", "verify-receipt", str(files["old"]), "--hmac-key-secret-id", arn]) == 0
        assert cli.main(["erase", "verify-receipt", str(files["old"]), "--hmac-key-secret-id", "nope"]) == 1
    out = capsys.readouterr().out
    assert "receipt VALID (version 1" in out and "cannot read the receipt MAC key from nope" in out
