"""Erasure receipts version 3 (P10): the organisation key's fate, and the date that follows from it.

Per-organisation keys: complete everywhere by = erased_at + pending window + cache max age, whatever the backup
retention. Shared key: the receipt says nothing could be destroyed and keeps erased_at + max(retention, cache).
Versions 1 (MAC) and 2 (signed, before per-organisation keys) still verify."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.errors import ReceiptError
from runtime.lifecycle.receipt import (
    KEY_DELETION_SCHEDULED,
    KEY_NOT_DESTROYABLE,
    SIGNED_VERSION_2,
    VERSION,
    ErasureReceipt,
    ReceiptKey,
    ReceiptKeys,
    verify_receipt,
)
from runtime.lifecycle.receipt_signing import LocalReceiptSigner

SIGNER = LocalReceiptSigner.generate()
MAC_KEY = ReceiptKey(b"m" * 40)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ERASED = T0 + timedelta(minutes=5)


def _receipt(**overrides: Any) -> ErasureReceipt:
    values: dict[str, Any] = {
        "erasure_id": uuid.uuid4(), "owner_id": uuid.uuid4(), "environment": "prod", "requested_at": T0,
        "erased_at": ERASED, "longest_backup_retention_days": 35, "dek_cache_max_age_seconds": 300.0,
        "rows_deleted": {"prompts": 12, "organisations": 1}, "data_keys_destroyed": 1,
        "export_objects_deleted": 0, "local_exports_not_reached": 0,
    }
    values.update(overrides)
    return ErasureReceipt(**values)


def _per_org(days: int = 7) -> ErasureReceipt:
    return _receipt(keyring_mode="per-organisation", key_deletion_pending_days=days,
                    key_deletion_scheduled_at=ERASED - timedelta(seconds=1))


def test_receipt_v3_per_organisation_date_is_pending_window_plus_cache_not_backup_retention() -> None:
    signed = _per_org(7).signed(SIGNER)
    assert signed["version"] == VERSION == 3
    assert signed["keyring_mode"] == "per-organisation" and signed["organisation_key"] == KEY_DELETION_SCHEDULED
    assert signed["key_deletion_pending_days"] == 7
    expected = ERASED + timedelta(days=7) + timedelta(seconds=300)
    assert datetime.fromisoformat(signed["complete_everywhere_by"]) == expected  # not + 35 days
    parsed = verify_receipt(SIGNER.public_key(), signed)
    assert parsed.complete_everywhere_by == expected and parsed.key_deletion_pending_days == 7


def test_receipt_v3_shared_key_says_nothing_destroyed_and_keeps_retention_date() -> None:
    signed = _receipt().signed(SIGNER)
    assert signed["keyring_mode"] == "shared" and signed["organisation_key"] == KEY_NOT_DESTROYABLE
    assert signed["key_deletion_pending_days"] is None and signed["key_deletion_scheduled_at"] is None
    assert datetime.fromisoformat(signed["complete_everywhere_by"]) == ERASED + timedelta(days=35)
    assert verify_receipt(SIGNER.public_key(), signed).keyring_mode == "shared"


@pytest.mark.parametrize("change", [
    {"key_deletion_pending_days": 30},  # a longer window than the date was computed with
    {"key_deletion_pending_days": 3},  # below KMS's range
    {"keyring_mode": "shared"},  # per-organisation fields under a shared mode
    {"organisation_key": KEY_NOT_DESTROYABLE},
    {"key_deletion_scheduled_at": None},
])
def test_verify_receipt_v3_inconsistent_key_fields_refused(change: dict[str, Any]) -> None:
    # Re-signed, so only the consistency checks can refuse it.
    body = {k: v for k, v in _per_org().signed(SIGNER).items() if k != "signature"}
    body.update(change)
    import base64

    from runtime.lifecycle.receipt import canonical
    forged = {**body, "signature": base64.b64encode(SIGNER.sign(canonical(body))).decode()}
    with pytest.raises(ReceiptError):
        verify_receipt(SIGNER.public_key(), forged)


def test_verify_receipt_v1_and_v2_still_verify() -> None:
    v2 = _receipt().signed(SIGNER, version=SIGNED_VERSION_2)
    assert "keyring_mode" not in v2 and v2["version"] == 2
    assert verify_receipt(SIGNER.public_key(), v2).version == 2
    v1 = _receipt().maced(MAC_KEY)
    assert verify_receipt(ReceiptKeys(SIGNER, MAC_KEY), v1).version == 1
    with pytest.raises(ReceiptError):  # a v2 receipt may not carry the v3 fields
        verify_receipt(SIGNER.public_key(), {**v2, "keyring_mode": "shared"})


def test_receipt_v2_cannot_state_per_organisation_deletion() -> None:
    with pytest.raises(ValueError):
        _per_org().signed(SIGNER, version=SIGNED_VERSION_2)



def test_receipt_v3_customer_held_key_signed_dated_by_retention_and_refused_with_a_deletion() -> None:
    """BYOK: the platform destroys no key; the receipt says customer-held, keeps the backups' date, verifies; a
    customer-held key stated with a deletion window is refused on construction and, re-signed, on verification."""
    signed = _receipt(keyring_mode="per-organisation", customer_key=True).signed(SIGNER)
    assert signed["organisation_key"] == "customer-held" and signed["key_deletion_pending_days"] is None
    assert datetime.fromisoformat(signed["complete_everywhere_by"]) == ERASED + timedelta(days=35)
    assert verify_receipt(SIGNER.public_key(), signed).customer_key
    with pytest.raises(ValueError):
        _receipt(keyring_mode="per-organisation", customer_key=True, key_deletion_pending_days=7,
                 key_deletion_scheduled_at=ERASED)
    with pytest.raises(ValueError):
        _receipt(keyring_mode="shared", customer_key=True)
    import base64

    from runtime.lifecycle.receipt import canonical

    body = {k: v for k, v in signed.items() if k != "signature"}
    body["key_deletion_pending_days"] = 7
    forged = {**body, "signature": base64.b64encode(SIGNER.sign(canonical(body))).decode()}
    with pytest.raises(ReceiptError):
        verify_receipt(SIGNER.public_key(), forged)
