"""Signed checkpoints of the audit chain (P14). Pure: no database, no AWS.

A checkpoint says "the chain's position SEQ has hash HASH, at time AT", and is signed with the environment's
asymmetric KMS key (ECDSA P-256, SHA-256): verifiers hold only the public key, so being able to verify gives no
power to forge (the old keyed checkpoints could be forged by anyone who could verify them).

The signed bytes are a canonical JSON document (sorted keys, no spaces) that also names

- `previous`: the position and SHA-256 of the checkpoint before it, so the checkpoints form a list of their own
  and one deleted from the middle is missed by the next (`audit verify` reports it);
- `every` and `seconds`: the cadence the sequencer promised (a checkpoint at most `every` positions after the
  last, and within `seconds` of sequencing anything), so a gap in the cadence is a finding too;
- `cutover`: the last position of the old HMAC-linked chain (0 on a ledger that never had one).

The same document is written to the Object Lock bucket (`document()`) and to the database.
"""

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from runtime.audit.chain import HASH_BYTES
from runtime.errors import AuditError

FORMAT: Final = "platform-audit-checkpoint-v2"
_KEYS: Final = frozenset({"format", "environment", "seq", "hash", "at", "cutover", "every", "seconds", "previous"})


class CheckpointFormatError(AuditError):
    """A checkpoint document that does not parse (it is then treated as forged)."""


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("checkpoint times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Previous:
    seq: int
    digest: str  # SHA-256 (hex) of the previous checkpoint's body


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    seq: int
    hash: bytes = field(repr=False)
    at: datetime
    environment: str
    cutover: int
    every: int
    seconds: int
    previous: Previous | None
    body: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    key_id: str = ""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def verifies(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def document(self) -> bytes:
        """What the checkpoint bucket holds: the signed body as it was signed, the signature, the key."""
        return _canonical({"body": self.body.decode(), "signature": base64.b64encode(self.signature).decode(),
                           "key_id": self.key_id})


def checkpoint_body(*, environment: str, seq: int, chain_hash: bytes, at: datetime, cutover: int, every: int,
                    seconds: int, previous: "SignedCheckpoint | None") -> bytes:
    """The bytes to sign for a checkpoint of position `seq`."""
    if len(chain_hash) != HASH_BYTES or seq < 1:
        raise ValueError("a checkpoint names a position >= 1 and a 32-byte hash")
    return _canonical({
        "format": FORMAT, "environment": environment, "seq": seq, "hash": chain_hash.hex(), "at": _iso(at),
        "cutover": cutover, "every": every, "seconds": seconds,
        "previous": None if previous is None else {"seq": previous.seq, "digest": previous.digest},
    })


def _int(document: Mapping[str, Any], name: str, minimum: int) -> int:
    value = document.get(name)
    if type(value) is not int or value < minimum:
        raise CheckpointFormatError(f"checkpoint field {name!r} must be an integer >= {minimum}")
    return value


def parse_checkpoint(body: bytes, signature: bytes, key_id: str = "") -> SignedCheckpoint:
    """A checkpoint from its signed body (not yet verified: call `verifies`)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CheckpointFormatError("the checkpoint body is not JSON") from None
    if not isinstance(document, dict) or set(document) != _KEYS or document["format"] != FORMAT:
        raise CheckpointFormatError(f"the checkpoint body is not a {FORMAT} document")
    if _canonical(document) != body:
        raise CheckpointFormatError("the checkpoint body is not in canonical form")
    try:
        chain_hash = bytes.fromhex(document["hash"])
        at = datetime.strptime(document["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise CheckpointFormatError("the checkpoint's hash or time does not parse") from None
    previous_doc = document["previous"]
    previous = None
    if previous_doc is not None:
        if not isinstance(previous_doc, dict) or set(previous_doc) != {"seq", "digest"} \
                or not isinstance(previous_doc["digest"], str):
            raise CheckpointFormatError("the checkpoint's previous field is malformed")
        previous = Previous(_int(previous_doc, "seq", 1), previous_doc["digest"])
    if len(chain_hash) != HASH_BYTES or not isinstance(document["environment"], str):
        raise CheckpointFormatError("the checkpoint's hash or environment is malformed")
    return SignedCheckpoint(
        _int(document, "seq", 1), chain_hash, at, document["environment"], _int(document, "cutover", 0),
        _int(document, "every", 1), _int(document, "seconds", 1), previous, body, signature, key_id,
    )


def parse_document(raw: bytes) -> SignedCheckpoint:
    """A checkpoint as the bucket holds it (`SignedCheckpoint.document()`)."""
    try:
        document = json.loads(raw)
        body, signature = document["body"].encode(), base64.b64decode(document["signature"], validate=True)
        key_id = document["key_id"]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise CheckpointFormatError("the checkpoint object is not a checkpoint document") from None
    return parse_checkpoint(body, signature, str(key_id))
