"""Erasure receipts (P10): a JSON document, MAC'd so it can be checked later, that states what was erased and
by when the erasure is complete everywhere.

    {"kind": "platform-erasure-receipt", "version": 1, "erasure_id", "owner_id", "environment",
     "requested_at", "erased_at", "complete_everywhere_by", "longest_backup_retention_days",
     "dek_cache_max_age_seconds", "rows_deleted": {table: n}, "rows_total", "data_keys_destroyed",
     "export_objects_deleted", "local_exports_not_reached", "mac_algorithm": "HMAC-SHA256", "mac": hex}

`complete_everywhere_by` = erased_at + the longest of: the environment's longest backup retention (backups
and point-in-time recovery hold the owner's wrapped keys and ciphertext until they expire) and the data-key
cache max age (another task may hold the unwrapped key that long). Both come from configuration.

The MAC is HMAC-SHA256, under a secret only the platform holds, over the canonical JSON of every other
field (sorted keys, no spaces, ASCII): changing any field, or adding or removing one, breaks it.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn

from runtime import settings
from runtime.errors import ReceiptError, ReceiptKeyError

KIND: Final = "platform-erasure-receipt"
VERSION: Final = 1
MAC_ALGORITHM: Final = "HMAC-SHA256"
MIN_KEY_BYTES: Final = 32
_LABEL: Final = b"platform-erasure-receipt-v1\x00"
_FIELDS: Final = frozenset({
    "kind", "version", "erasure_id", "owner_id", "environment", "requested_at", "erased_at",
    "complete_everywhere_by", "longest_backup_retention_days", "dek_cache_max_age_seconds", "rows_deleted",
    "rows_total", "data_keys_destroyed", "export_objects_deleted", "local_exports_not_reached", "mac_algorithm",
    "mac",
})


class ReceiptKey:
    """The receipt MAC secret. Never shown in repr, never pickled."""

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

    def mac(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "ReceiptKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("the receipt key cannot be pickled")


def complete_everywhere_by(erased_at: datetime, *, longest_backup_retention_days: int,
                           dek_cache_max_age_seconds: float) -> datetime:
    if longest_backup_retention_days < 0 or dek_cache_max_age_seconds < 0:
        raise ValueError("retention and cache age cannot be negative")
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
    mac: str = field(default="", repr=False)

    @property
    def complete_everywhere_by(self) -> datetime:
        return complete_everywhere_by(self.erased_at, longest_backup_retention_days=self.longest_backup_retention_days,
                                      dek_cache_max_age_seconds=self.dek_cache_max_age_seconds)

    @property
    def rows_total(self) -> int:
        return sum(self.rows_deleted.values())

    def body(self) -> dict[str, Any]:
        """Every field but the MAC."""
        return {
            "kind": KIND,
            "version": VERSION,
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
            "mac_algorithm": MAC_ALGORITHM,
        }

    def signed(self, key: ReceiptKey) -> dict[str, Any]:
        body = self.body()
        return {**body, "mac": key.mac(_LABEL + canonical(body)).hex()}


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def verify_receipt(key: ReceiptKey, document: object) -> ErasureReceipt:
    """The receipt in `document` if its MAC verifies and it is well formed; `ReceiptError` otherwise."""
    if not isinstance(document, Mapping) or set(document) != _FIELDS:
        raise ReceiptError("this is not an erasure receipt: fields are missing or were added")
    body = {k: v for k, v in document.items() if k != "mac"}
    mac = document.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, key.mac(_LABEL + canonical(body)).hex()):
        raise ReceiptError("the receipt's MAC does not verify: it was changed, or was not issued by this platform")
    try:
        receipt = ErasureReceipt(
            erasure_id=uuid.UUID(str(body["erasure_id"])),
            owner_id=uuid.UUID(str(body["owner_id"])),
            environment=str(body["environment"]),
            requested_at=datetime.fromisoformat(str(body["requested_at"])),
            erased_at=datetime.fromisoformat(str(body["erased_at"])),
            longest_backup_retention_days=int(body["longest_backup_retention_days"]),
            dek_cache_max_age_seconds=float(body["dek_cache_max_age_seconds"]),
            rows_deleted={str(k): int(v) for k, v in dict(body["rows_deleted"]).items()},
            data_keys_destroyed=int(body["data_keys_destroyed"]),
            export_objects_deleted=int(body["export_objects_deleted"]),
            local_exports_not_reached=int(body["local_exports_not_reached"]),
            mac=mac,
        )
    except (TypeError, ValueError):
        raise ReceiptError("the receipt has a field of the wrong type") from None
    if body["kind"] != KIND or body["version"] != VERSION:
        raise ReceiptError(f"unknown receipt kind or version; this runtime reads {KIND} v{VERSION}")
    return receipt


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("receipt times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")
