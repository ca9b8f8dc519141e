"""The hash chain of the audit ledger (P14).

Positions after the cut-over (migration 0012) are linked with SHA-256, no secret, so anyone can verify them
against the signed checkpoints (runtime/audit/checkpoints.py):

    hash[n] = SHA-256("platform-audit-v2" 0x00 | [hash[n-1]] | [n] | [at] | [event] | [actor] | [owner] | [fields])

where [x] is x as PostgreSQL's binary COPY frames a column: a 4-byte big-endian length, then the value's binary
form (bytea as is; bigint and timestamptz as 8-byte integers, microseconds since 2000-01-01 for the time; text
as UTF-8; uuid as 16 bytes; jsonb as a version byte and its text). That is exactly the tail of a COPY BINARY row
of (hash, prev_hash, seq, at, event, actor_id, owner_id, fields), so a verifier hashes a slice of the bytes the
database sends, decoding nothing (runtime/audit/segments.py); the sequencer, the only one that links
(runtime/db/sequencer.py), reads the queued columns the same way. Every field is length-framed: no two events
have the same encoding.

Positions up to the cut-over keep their HMAC-SHA256 links keyed with the secret in Secrets Manager:

    hash[n] = HMAC(key, "platform-audit-v1" | hash[n-1] | n | at | event | actor | owner | fields)

An entry's position n is inside its MAC, so moving, dropping or inserting an entry breaks the chain
at that position; without the key nobody can forge a replacement. Checkpoints MAC (position, hash,
time) so they too can be checked, and kept outside the database.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, NoReturn

from runtime.errors import AuditKeyError

GENESIS: Final = bytes(32)  # "hash" before the first entry
HASH_BYTES: Final = 32
MIN_KEY_BYTES: Final = 32
_LINK_LABEL: Final = b"platform-audit-v1\x00"
_CHECKPOINT_LABEL: Final = b"platform-audit-checkpoint-v1\x00"
LINK_V2_LABEL: Final = b"platform-audit-v2\x00"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ChainKey:
    """The secret that keys the chain. Never shown in repr, never pickled."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if type(secret) is not bytes or len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(f"the audit chain key must be at least {MIN_KEY_BYTES} bytes")
        self._secret = secret

    def mac(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "ChainKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("the audit chain key cannot be pickled")


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One audit_events row."""

    seq: int
    at: datetime
    event: str
    actor_id: uuid.UUID
    owner_id: uuid.UUID
    fields: Mapping[str, object]
    prev_hash: bytes = field(repr=False)
    hash: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    at: datetime
    hash: bytes
    mac: bytes = field(repr=False)

    def token(self) -> str:
        """`seq:hash-hex`, the form to keep outside the database and pass to `verify --trust`."""
        return f"{self.seq}:{self.hash.hex()}"


def canonical_fields(fields: Mapping[str, object]) -> bytes:
    """The one byte form of a fields document; stable through a jsonb round trip (ints, strings, lists)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return (at - _EPOCH) // timedelta(microseconds=1)


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def link_hash(
    key: ChainKey,
    *,
    prev_hash: bytes,
    seq: int,
    at: datetime,
    event: str,
    actor_id: uuid.UUID,
    owner_id: uuid.UUID,
    fields: Mapping[str, object] | bytes,
) -> bytes:
    """The link hash; `fields` may be given already in canonical form (bytes), to encode it once."""
    encoded = fields if isinstance(fields, bytes) else canonical_fields(fields)
    message = b"".join(
        (
            _LINK_LABEL,
            _framed(prev_hash),
            seq.to_bytes(8, "big", signed=True),
            _micros(at).to_bytes(8, "big", signed=True),
            _framed(event.encode()),
            actor_id.bytes,
            owner_id.bytes,
            _framed(encoded),
        )
    )
    return key.mac(message)


def entry_hash(key: ChainKey, entry: ChainEntry) -> bytes:
    """What `entry.hash` must be, given its own `prev_hash`."""
    return link_hash(
        key,
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        at=entry.at,
        event=entry.event,
        actor_id=entry.actor_id,
        owner_id=entry.owner_id,
        fields=entry.fields,
    )


def link_v2(prev_hash: bytes, seq: int, columns: bytes) -> bytes:
    """hash[n] of a position after the cut-over; `columns`: [at] | [event] | [actor] | [owner] | [fields] as
    binary COPY frames them (see the module docstring)."""
    return hashlib.sha256(b"".join((LINK_V2_LABEL, _framed(prev_hash), _framed(seq.to_bytes(8, "big", signed=True)),
                                    columns))).digest()


def checkpoint_mac(key: ChainKey, *, seq: int, at: datetime, chain_hash: bytes) -> bytes:
    return key.mac(
        _CHECKPOINT_LABEL + seq.to_bytes(8, "big", signed=True) + _micros(at).to_bytes(8, "big", signed=True)
        + _framed(chain_hash)
    )


def make_checkpoint(key: ChainKey, *, seq: int, at: datetime, chain_hash: bytes) -> Checkpoint:
    return Checkpoint(seq, at, chain_hash, checkpoint_mac(key, seq=seq, at=at, chain_hash=chain_hash))


@dataclass(frozen=True, slots=True)
class TrustedCheckpoint:
    """A (position, hash) pair kept outside the database, e.g. printed by `audit checkpoint` into logs."""

    seq: int
    hash: bytes

    @classmethod
    def parse(cls, token: str) -> "TrustedCheckpoint":
        seq_text, _, hash_hex = token.partition(":")
        try:
            seq, digest = int(seq_text), bytes.fromhex(hash_hex)
        except ValueError:
            raise ValueError(f"checkpoint {token!r} is not SEQ:HASH (hash as 64 hex digits)") from None
        if seq < 1 or len(digest) != HASH_BYTES:
            raise ValueError(f"checkpoint {token!r} is not SEQ:HASH (hash as 64 hex digits)")
        return cls(seq, digest)
