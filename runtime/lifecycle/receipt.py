"""Erasure receipts (P10): a JSON document, signed so its owner can check it, that states what was erased
and by when the erasure is complete everywhere.

Version 3 (issued now), signed with the environment's asymmetric KMS key (runtime/lifecycle/receipt_signing.py):

    {"kind": "platform-erasure-receipt", "version": 3, "erasure_id", "owner_id", "environment",
     "requested_at", "erased_at", "complete_everywhere_by", "longest_backup_retention_days",
     "dek_cache_max_age_seconds", "rows_deleted": {table: n}, "rows_total", "data_keys_destroyed",
     "export_objects_deleted", "local_exports_not_reached",
     "keyring_mode": "per-organisation" | "shared",
     "organisation_key": "deletion-scheduled" | "customer-held" | "not-destroyable-shared-key",
     "key_deletion_pending_days": 7..30 | null, "key_deletion_scheduled_at": "<time>" | null,
     "signature_algorithm": "ECDSA_SHA_256", "signing_key_id": "<key ARN>", "signature": "<base64 DER>"}

In per-organisation mode the erasure scheduled the deletion of the organisation's own key (KMS: pending for
`key_deletion_pending_days`; the local emulation destroys its key file at once) at `key_deletion_scheduled_at`;
in shared mode (`null`, `null`) every organisation's data keys are wrapped under one environment key, so nothing
could be destroyed and backups stay readable until they expire. "customer-held" (per-organisation mode, `null`,
`null`): the organisation's data keys were wrapped under ITS OWN key (BYOK), which the platform cannot destroy
(KMS deletes a key only in its own account): the date is the shared formula (backups expire), and the
organisation makes every copy unreadable at once by deleting its key itself.

Version 2 (issued before per-organisation keys): the fields of version 3 without the four key fields; its date
is the shared formula below. Still verifies.

The signed bytes are the CANONICAL JSON of every field but `signature` (so `signing_key_id` and
`signature_algorithm` are signed too): keys sorted, no whitespace (separators "," and ":"), non-ASCII escaped (\\uXXXX),
i.e. Python's `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()`. The
signature is ECDSA P-256 over SHA-256 of those bytes, ASN.1 DER, base64 (standard alphabet, padded). Verify
with the public key (PEM) the data service publishes (GET /v1/erasure-receipts/public-key) or kms:GetPublicKey:
`python -m runtime erase verify-receipt FILE --public-key key.pem`, or `cryptography`'s
`public_key.verify(signature, canonical_bytes, ec.ECDSA(hashes.SHA256()))`. The receipt's meaning is its JSON
value: whitespace between tokens is not part of it; a changed value, an added, removed or duplicated field is.

Version 1 (issued before), MAC'd: the same fields with "mac_algorithm": "HMAC-SHA256" and "mac" (hex) instead
of the three signature fields; HMAC-SHA256 under PLATFORM_ERASURE_RECEIPT_KEY (a secret only the operator
holds) over b"platform-erasure-receipt-v1\x00" + the canonical JSON of every field but `mac`. Old receipts
still verify with that key; nothing issues them any more.

`complete_everywhere_by`:
- per-organisation mode (version 3): erased_at + key_deletion_pending_days + the data-key cache max age,
  whatever the backup retention: once the organisation's key is deleted no copy (restored backup, snapshot,
  replica, stray export) can be decrypted, and another task may hold an unwrapped data key for the cache's
  max age. erased_at is taken after the key's deletion was scheduled.
- shared mode, a customer-held key (and versions 1 and 2): erased_at + the longest of: the environment's
  longest backup retention (backups and point-in-time recovery hold the owner's wrapped keys and ciphertext
  until they expire) and the
  data-key cache max age (another task may hold the unwrapped key that long).
All come from configuration; versions 2 and 3 are refused when the date does not follow from their fields.
"""

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn

from runtime import settings
from runtime.bounds import KEY_DELETION_PENDING_DAYS
from runtime.errors import ReceiptError, ReceiptKeyError
from runtime.lifecycle.receipt_signing import SIGNING_ALGORITHM, ReceiptPublicKey, ReceiptSigner

KIND: Final = "platform-erasure-receipt"
VERSION: Final = 3  # what erasures issue: signed, with the organisation key's fate
SIGNED_VERSION_2: Final = 2  # signed, before per-organisation keys (verified, never issued)
MAC_VERSION: Final = 1  # what they issued before: MAC'd (verified, never issued)
MAC_ALGORITHM: Final = "HMAC-SHA256"
MIN_KEY_BYTES: Final = 32
_LABEL: Final = b"platform-erasure-receipt-v1\x00"
_COMMON: Final = frozenset({
    "kind", "version", "erasure_id", "owner_id", "environment", "requested_at", "erased_at",
    "complete_everywhere_by", "longest_backup_retention_days", "dek_cache_max_age_seconds", "rows_deleted",
    "rows_total", "data_keys_destroyed", "export_objects_deleted", "local_exports_not_reached",
})
_SIGNATURE: Final = frozenset({"signature_algorithm", "signing_key_id", "signature"})
_KEY_FIELDS: Final = frozenset({"keyring_mode", "organisation_key", "key_deletion_pending_days",
                                "key_deletion_scheduled_at"})
_FIELDS: Final = {
    MAC_VERSION: _COMMON | {"mac_algorithm", "mac"},
    SIGNED_VERSION_2: _COMMON | _SIGNATURE,
    VERSION: _COMMON | _SIGNATURE | _KEY_FIELDS,
}
PER_ORGANISATION: Final = "per-organisation"
SHARED: Final = "shared"
KEY_DELETION_SCHEDULED: Final = "deletion-scheduled"
KEY_NOT_DESTROYABLE: Final = "not-destroyable-shared-key"
KEY_CUSTOMER_HELD: Final = "customer-held"  # BYOK: the organisation's own key, which only it can destroy


class ReceiptKey:
    """The receipt MAC secret (version 1 receipts). Never shown in repr, never pickled."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if type(secret) is not bytes or len(secret) < MIN_KEY_BYTES:
            raise ReceiptKeyError(f"the erasure receipt key must be at least {MIN_KEY_BYTES} bytes")
        self._secret = secret

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "ReceiptKey":
        text = environ.get(settings.ERASURE_RECEIPT_KEY, "").strip()
        if not text:
            raise ReceiptKeyError(
                f"{settings.ERASURE_RECEIPT_KEY} is not set; ECS injects it from the erasure receipt secret "
                f"(at least {MIN_KEY_BYTES} characters)"
            )
        if len(text.encode()) < MIN_KEY_BYTES:
            raise ReceiptKeyError(f"{settings.ERASURE_RECEIPT_KEY} holds fewer than {MIN_KEY_BYTES} bytes")
        return cls(text.encode())

    @classmethod
    def optional_from_environment(cls, environ: Mapping[str, str]) -> "ReceiptKey | None":
        """The key when set (it verifies version 1 receipts only), else None."""
        return cls.from_environment(environ) if environ.get(settings.ERASURE_RECEIPT_KEY, "").strip() else None

    def mac(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "ReceiptKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("the receipt key cannot be pickled")


@dataclass(frozen=True, slots=True)
class ReceiptKeys:
    """What the eraser signs new receipts with, and what verifies the receipts it stored: the signer (its public
    key verifies version 2) and, optionally, the old MAC key (version 1)."""

    signer: ReceiptSigner
    mac_key: ReceiptKey | None = field(default=None, repr=False)

    def public_key(self, key_id: str) -> ReceiptPublicKey:
        public = self.signer.public_key()
        if key_id != public.key_id:
            raise ReceiptError(f"the receipt names signing key {key_id}; this environment signs with "
                               f"{public.key_id}: verify it with that key's public key (--public-key)")
        return public


# What verifies a receipt: the MAC key (version 1), a public key or a source of public keys by the key id a
# receipt names (version 2), or both (ReceiptKeys).
PublicKeySource = Callable[[str], ReceiptPublicKey]
ReceiptVerifier = ReceiptKey | ReceiptPublicKey | ReceiptKeys


def complete_everywhere_by(erased_at: datetime, *, longest_backup_retention_days: int,
                           dek_cache_max_age_seconds: float, key_deletion_pending_days: int | None = None
                           ) -> datetime:
    """Shared key (key_deletion_pending_days None): erased_at + max(backup retention, cache max age).
    Per-organisation key: erased_at + pending window + cache max age, whatever the backup retention."""
    if longest_backup_retention_days < 0 or dek_cache_max_age_seconds < 0:
        raise ValueError("retention and cache age cannot be negative")
    if key_deletion_pending_days is not None:
        if key_deletion_pending_days < 0:
            raise ValueError("the key deletion pending window cannot be negative")
        return erased_at + timedelta(days=key_deletion_pending_days) + timedelta(seconds=dek_cache_max_age_seconds)
    return erased_at + max(timedelta(days=longest_backup_retention_days),
                           timedelta(seconds=dek_cache_max_age_seconds))


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    erasure_id: uuid.UUID
    owner_id: uuid.UUID
    environment: str
    requested_at: datetime
    erased_at: datetime
    longest_backup_retention_days: int
    dek_cache_max_age_seconds: float
    rows_deleted: Mapping[str, int]
    data_keys_destroyed: int
    export_objects_deleted: int
    local_exports_not_reached: int
    version: int = VERSION
    signing_key_id: str = ""  # version 2: the key that signed it
    mac: str = field(default="", repr=False)  # version 1
    signature: str = field(default="", repr=False)  # versions 2 and 3
    keyring_mode: str = SHARED  # version 3; versions 1 and 2 predate per-organisation keys
    key_deletion_pending_days: int | None = None  # per-organisation mode only
    key_deletion_scheduled_at: datetime | None = None  # per-organisation mode only
    customer_key: bool = False  # per-organisation mode: the organisation's own key (BYOK), not destroyed by us

    def __post_init__(self) -> None:
        per_org = self.keyring_mode == PER_ORGANISATION
        if self.keyring_mode not in (PER_ORGANISATION, SHARED):
            raise ValueError("keyring_mode")
        if self.customer_key and not per_org:
            raise ValueError("a customer-held key is a per-organisation key")
        deleting = per_org and not self.customer_key
        if deleting != (self.key_deletion_pending_days is not None) or \
                deleting != (self.key_deletion_scheduled_at is not None):
            raise ValueError("a receipt states its key's deletion exactly when the platform scheduled it")

    @property
    def organisation_key(self) -> str:
        if self.keyring_mode == SHARED:
            return KEY_NOT_DESTROYABLE
        return KEY_CUSTOMER_HELD if self.customer_key else KEY_DELETION_SCHEDULED

    @property
    def complete_everywhere_by(self) -> datetime:
        return complete_everywhere_by(self.erased_at, longest_backup_retention_days=self.longest_backup_retention_days,
                                      dek_cache_max_age_seconds=self.dek_cache_max_age_seconds,
                                      key_deletion_pending_days=self.key_deletion_pending_days)

    @property
    def rows_total(self) -> int:
        return sum(self.rows_deleted.values())

    def facts(self) -> dict[str, Any]:
        """The fields every version shares."""
        return {
            "kind": KIND,
            "erasure_id": str(self.erasure_id),
            "owner_id": str(self.owner_id),
            "environment": self.environment,
            "requested_at": _time(self.requested_at),
            "erased_at": _time(self.erased_at),
            "complete_everywhere_by": _time(self.complete_everywhere_by),
            "longest_backup_retention_days": self.longest_backup_retention_days,
            "dek_cache_max_age_seconds": self.dek_cache_max_age_seconds,
            "rows_deleted": {k: int(v) for k, v in sorted(self.rows_deleted.items())},
            "rows_total": self.rows_total,
            "data_keys_destroyed": self.data_keys_destroyed,
            "export_objects_deleted": self.export_objects_deleted,
            "local_exports_not_reached": self.local_exports_not_reached,
        }

    def key_facts(self) -> dict[str, Any]:
        """The fields version 3 adds: what became of the organisation's key."""
        scheduled = self.key_deletion_scheduled_at
        return {"keyring_mode": self.keyring_mode, "organisation_key": self.organisation_key,
                "key_deletion_pending_days": self.key_deletion_pending_days,
                "key_deletion_scheduled_at": None if scheduled is None else _time(scheduled)}

    def body(self, signing_key_id: str, version: int = VERSION) -> dict[str, Any]:
        """Every field of a signed receipt but the signature: what is signed (canonically encoded)."""
        if version == SIGNED_VERSION_2 and self.keyring_mode != SHARED:
            raise ValueError("a version 2 receipt cannot state a per-organisation key's deletion")
        extra = self.key_facts() if version == VERSION else {}
        return {**self.facts(), **extra, "version": version, "signature_algorithm": SIGNING_ALGORITHM,
                "signing_key_id": signing_key_id}

    def signed(self, keys: ReceiptKeys | ReceiptSigner, *, version: int = VERSION) -> dict[str, Any]:
        """The signed receipt (version 3; version 2 only for tests of backward compatibility)."""
        signer = keys.signer if isinstance(keys, ReceiptKeys) else keys
        body = self.body(signer.key_id, version)
        signature = signer.sign(canonical(body))
        return {**body, "signature": base64.b64encode(signature).decode("ascii")}

    def maced(self, key: ReceiptKey) -> dict[str, Any]:
        """The version 1 receipt (tests of backward compatibility: nothing issues these any more)."""
        body = {**self.facts(), "version": MAC_VERSION, "mac_algorithm": MAC_ALGORITHM}
        return {**body, "mac": key.mac(_LABEL + canonical(body)).hex()}


def canonical(document: Mapping[str, Any]) -> bytes:
    """The signed (and MAC'd) encoding: sorted keys, no whitespace, ASCII only."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def load_receipt(raw: bytes | str) -> dict[str, Any]:
    """A receipt document from JSON text, strictly: one object, no duplicated field (which a reader and the
    verifier could resolve differently), no NaN or Infinity. `ReceiptError` otherwise."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ReceiptError(f"the receipt repeats the field(s) {', '.join(duplicated)}")
        return dict(pairs)

    def constant(name: str) -> NoReturn:
        raise ReceiptError(f"the receipt holds {name}, which is not JSON")

    try:
        document = json.loads(raw, object_pairs_hook=unique, parse_constant=constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ReceiptError("the receipt is not valid JSON") from None
    if not isinstance(document, dict):
        raise ReceiptError("the receipt is not a JSON object")
    return document


def receipt_version(document: object) -> int:
    if not isinstance(document, Mapping) or document.get("kind") != KIND:
        raise ReceiptError(f"this is not an erasure receipt (kind {KIND!r} expected)")
    version = document.get("version")
    if type(version) is not int or version not in _FIELDS:
        raise ReceiptError(f"unknown receipt version {version!r}; this runtime reads versions "
                           f"{', '.join(map(str, sorted(_FIELDS)))} of {KIND}")
    return version


def verify_receipt(verifier: ReceiptVerifier | PublicKeySource, document: object) -> ErasureReceipt:
    """The receipt in `document` if it is well formed and its signature (version 2) or MAC (version 1)
    verifies; `ReceiptError`, saying why, otherwise. `verifier`: see ReceiptVerifier; a callable is given the
    key id the receipt names and returns its public key."""
    version = receipt_version(document)
    assert isinstance(document, Mapping)  # receipt_version
    missing, extra = _FIELDS[version] - set(document), set(document) - _FIELDS[version]
    if missing or extra:
        raise ReceiptError("this is not an erasure receipt of version "
                           f"{version}: " + "; ".join(part for part in (
                               f"missing {', '.join(sorted(missing))}" if missing else "",
                               f"unexpected {', '.join(sorted(extra))}" if extra else "") if part))
    if version == MAC_VERSION:
        _verify_mac(verifier, document)
    else:
        _verify_signature(verifier, document)
    return _parse(document, version)


def _verify_mac(verifier: ReceiptVerifier | PublicKeySource, document: Mapping[str, Any]) -> None:
    key = verifier.mac_key if isinstance(verifier, ReceiptKeys) else verifier
    if not isinstance(key, ReceiptKey):
        raise ReceiptError(f"this is a version {MAC_VERSION} (MAC'd) receipt: only the operator's receipt MAC key "
                           f"verifies it ({settings.ERASURE_RECEIPT_KEY}, or --hmac-key-secret-id)")
    body = {k: v for k, v in document.items() if k != "mac"}
    mac = document["mac"]
    if body["mac_algorithm"] != MAC_ALGORITHM or not isinstance(mac, str) or \
            not hmac.compare_digest(mac, key.mac(_LABEL + canonical(body)).hex()):
        raise ReceiptError("the receipt's MAC does not verify: it was changed, or was not issued by this platform")


def _verify_signature(verifier: ReceiptVerifier | PublicKeySource, document: Mapping[str, Any]) -> None:
    key_id, algorithm, encoded = document["signing_key_id"], document["signature_algorithm"], document["signature"]
    if not isinstance(key_id, str) or not key_id:
        raise ReceiptError("the receipt names no signing key")
    if algorithm != SIGNING_ALGORITHM:
        raise ReceiptError(f"the receipt's signature algorithm is {algorithm!r}; receipts are signed with "
                           f"{SIGNING_ALGORITHM}")
    if isinstance(verifier, ReceiptKey):
        raise ReceiptError("this is a signed (version 2) receipt: it verifies with the signing key's public key, "
                           "not the MAC key")
    if isinstance(verifier, ReceiptKeys):
        public = verifier.public_key(key_id)
    elif isinstance(verifier, ReceiptPublicKey):
        public = verifier
    else:
        public = verifier(key_id)
    try:
        signature = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    # Canonical base64 only: a decoder ignores the last character's unused bits, so "...Q=" and "...R=" could
    # carry one signature, and a receipt with a changed byte would still verify.
    if not signature or base64.b64encode(signature).decode("ascii") != encoded:
        raise ReceiptError("the receipt's signature is not base64")
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        message = canonical(body)
    except (TypeError, ValueError):
        raise ReceiptError("the receipt holds a value JSON cannot encode canonically") from None
    if not public.verifies(signature, message):
        raise ReceiptError(f"the receipt's signature does not verify with {public.key_id}: it was changed, or was "
                           "not signed by this key")


def _parse(body: Mapping[str, Any], version: int) -> ErasureReceipt:
    def integer(name: str) -> int:
        value = body[name]
        if type(value) is not int or value < 0:
            raise ValueError(name)
        return value

    try:
        rows = body["rows_deleted"]
        if not isinstance(rows, Mapping):
            raise ValueError("rows_deleted")
        cache_age = body["dek_cache_max_age_seconds"]
        if type(cache_age) not in (int, float):
            raise ValueError("dek_cache_max_age_seconds")
        keys: dict[str, Any] = {}
        if version == VERSION:
            keys = _key_fields(body)
        receipt = ErasureReceipt(
            erasure_id=uuid.UUID(str(body["erasure_id"])),
            owner_id=uuid.UUID(str(body["owner_id"])),
            environment=str(body["environment"]),
            requested_at=datetime.fromisoformat(str(body["requested_at"])),
            erased_at=datetime.fromisoformat(str(body["erased_at"])),
            longest_backup_retention_days=integer("longest_backup_retention_days"),
            dek_cache_max_age_seconds=float(cache_age),
            rows_deleted={str(k): int(v) for k, v in rows.items()},
            data_keys_destroyed=integer("data_keys_destroyed"),
            export_objects_deleted=integer("export_objects_deleted"),
            local_exports_not_reached=integer("local_exports_not_reached"),
            version=version,
            signing_key_id=str(body.get("signing_key_id", "")),
            mac=str(body.get("mac", "")),
            signature=str(body.get("signature", "")),
            **keys,
        )
        stated = datetime.fromisoformat(str(body["complete_everywhere_by"]))
    except (TypeError, ValueError, OverflowError):
        raise ReceiptError("the receipt has a field of the wrong type") from None
    if version != MAC_VERSION and (stated != receipt.complete_everywhere_by
                                   or body["rows_total"] != receipt.rows_total):
        raise ReceiptError("the receipt's totals or completion date do not follow from its other fields")
    return receipt


def _key_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The version 3 key fields, consistent with each other; ValueError otherwise."""
    mode, fate = body["keyring_mode"], body["organisation_key"]
    days, scheduled = body["key_deletion_pending_days"], body["key_deletion_scheduled_at"]
    if mode == PER_ORGANISATION and fate == KEY_CUSTOMER_HELD and days is None and scheduled is None:
        return {"keyring_mode": mode, "customer_key": True}
    if mode == PER_ORGANISATION:
        if fate != KEY_DELETION_SCHEDULED or type(days) is not int \
                or not KEY_DELETION_PENDING_DAYS.minimum <= days <= KEY_DELETION_PENDING_DAYS.maximum \
                or not isinstance(scheduled, str):
            raise ValueError("key fields")
        return {"keyring_mode": mode, "key_deletion_pending_days": days,
                "key_deletion_scheduled_at": datetime.fromisoformat(scheduled)}
    if mode != SHARED or fate != KEY_NOT_DESTROYABLE or days is not None or scheduled is not None:
        raise ValueError("key fields")
    return {"keyring_mode": SHARED}


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("receipt times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")
