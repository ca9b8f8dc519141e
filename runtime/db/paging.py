"""Keyset paging and filters of record lists, with authenticated cursors (P3).

A list walks one owner's rows newest first, in the order (created_at, id) descending: a page is the next
`limit` rows after a position, so rows inserted while a client pages (their created_at is later than any
position it has reached) never shift a page nor appear twice. A row committed late by a transaction that
began before the walk's position may be missed; none is ever seen twice.

A cursor is the position of the last row of a page, MAC'd (HMAC-SHA-256, truncated to 128 bits) under the
organisation's cursor key (runtime/envelope/blind_index.py) over the organisation, the table and the filter:

    base64url( version 1 | created_at, microseconds since 1970, int64 | id, 16 bytes | MAC, 16 bytes )

so a forged, truncated or tampered cursor, another collection's, another filter's or another organisation's
is refused (`InvalidCursorError`, a 422) before any query runs; RLS would hide other rows anyway. A cursor
holds no user data: a platform time and a platform id.

Filters: `created_at` range (from inclusive, before exclusive), reference ids, and equality on encrypted
fields through their blind indexes (`BLIND_INDEXES`), exact after decryption.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final

from runtime.errors import InvalidRecordError

CURSOR_VERSION: Final = 1
_MAC_BYTES: Final = 16
_PAYLOAD: Final = 1 + 8 + 16
CURSOR_CHARS: Final = 56  # base64url without padding of 41 bytes is 55 characters; a little room
_CURSOR_TEXT: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{CURSOR_CHARS}}}")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class InvalidCursorError(InvalidRecordError):
    """A cursor that this organisation's list with this filter did not issue."""


class IndexKind(Enum):
    EXACT = "exact"  # the whole value (e.g. the model name's UTF-8 bytes)
    JSON_MEMBERS = "json members"  # each top-level key/value pair of a JSON object


@dataclass(frozen=True, slots=True)
class BlindIndexSpec:
    column: str  # the index column (platform.blind_index or platform.blind_index_set)
    source: str  # the encrypted column it indexes
    kind: IndexKind


# Which encrypted columns can be filtered on, and their index columns (runtime/db/migrations/0009_*.sql).
BLIND_INDEXES: Final[Mapping[str, tuple[BlindIndexSpec, ...]]] = {
    "model_calls": (
        BlindIndexSpec("model_index", "model", IndexKind.EXACT),
        BlindIndexSpec("metadata_index", "metadata", IndexKind.JSON_MEMBERS),
    ),
}


def member_text(value: object) -> str:
    """A JSON value as a metadata filter compares it: a string as itself, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def member(key: str, value_text: str) -> bytes:
    """The indexed form of one metadata pair: the key, a NUL, the value's text (a key holds no NUL in practice;
    the length prefix makes the split unambiguous anyway)."""
    k = key.encode("utf-8", "surrogatepass")
    return len(k).to_bytes(4, "big") + k + value_text.encode("utf-8", "surrogatepass")


def indexed_values(spec: BlindIndexSpec, plaintext: bytes) -> list[bytes]:
    """What the index holds terms of, for one stored value."""
    if spec.kind is IndexKind.EXACT:
        return [plaintext]
    try:
        document = json.loads(plaintext)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    return sorted({member(str(k), member_text(v)) for k, v in document.items()})


def exact_match(spec: BlindIndexSpec, plaintext: bytes | None, wanted: bytes) -> bool:
    """The post-filter: does the decrypted value really hold `wanted` (an `indexed_values` element)?"""
    if plaintext is None:
        return False
    if spec.kind is IndexKind.EXACT:
        return hmac.compare_digest(plaintext, wanted)
    return wanted in indexed_values(spec, plaintext)


@dataclass(frozen=True, slots=True)
class Position:
    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What a list selects. `equals` pairs an index column with the indexed form of the wanted value."""

    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    references: tuple[tuple[str, uuid.UUID], ...] = ()
    equals: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    def fingerprint(self) -> bytes:
        """A digest that names this filter in the cursor's MAC (the filter itself is never in the cursor)."""
        digest = hashlib.sha256(b"platform/list-filter/v1")

        def part(data: bytes) -> None:
            digest.update(len(data).to_bytes(4, "big") + data)

        for at in (self.created_from, self.created_before):
            part(b"" if at is None else at.astimezone(UTC).isoformat().encode())
        for name, ref in sorted(self.references):
            part(name.encode())
            part(ref.bytes)
        for column, value in sorted(self.equals):
            part(column.encode())
            part(value)
        return digest.digest()


def _mac(key: bytes, owner: str, table: str, list_filter: ListFilter, payload: bytes) -> bytes:
    message = b"platform/page-cursor/v1\x00" + b"\x00".join([owner.encode(), table.encode(),
                                                               list_filter.fingerprint(), payload])
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(key: bytes, owner: str, table: str, list_filter: ListFilter, position: Position) -> str:
    micros = (position.created_at - _EPOCH) // _MICROSECOND
    payload = bytes([CURSOR_VERSION]) + micros.to_bytes(8, "big", signed=True) + position.id.bytes
    token = payload + _mac(key, owner, table, list_filter, payload)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


_REFUSED: Final = "the cursor is not one this list issued (forged, changed, truncated, or for another list)"


def decode_cursor(key: bytes | None, owner: str, table: str, list_filter: ListFilter, text: str) -> Position:
    """The position of a cursor this organisation's list with this filter issued; InvalidCursorError otherwise."""
    if key is None or not isinstance(text, str) or not _CURSOR_TEXT.fullmatch(text):
        raise InvalidCursorError(_REFUSED)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError(_REFUSED) from None
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if len(raw) != _PAYLOAD + _MAC_BYTES or raw[0] != CURSOR_VERSION or canonical != text:
        raise InvalidCursorError(_REFUSED)
    payload, mac = raw[:_PAYLOAD], raw[_PAYLOAD:]
    if not hmac.compare_digest(mac, _mac(key, owner, table, list_filter, payload)):
        raise InvalidCursorError(_REFUSED)
    micros = int.from_bytes(payload[1:9], "big", signed=True)
    try:
        at = _EPOCH + micros * _MICROSECOND
    except OverflowError:  # only a MAC'd cursor gets here, and we never MAC such a time
        raise InvalidCursorError(_REFUSED) from None
    return Position(at, uuid.UUID(bytes=payload[9:]))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None
