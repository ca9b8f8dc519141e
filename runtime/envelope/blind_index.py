"""Keyed blind indexes: equality filters on envelope-encrypted fields, without storing plaintext (P2, P6, P10).

A blind index term is HMAC-SHA-256 of a value under a key of its organisation, truncated to `TERM_BITS`
(16) bits, as the AWS Database Encryption SDK's beacons are. The key is derived, never stored: HKDF-SHA-256
from the organisation's data key (the oldest one, which new values are encrypted under and which never
changes), with `info` naming the purpose, the organisation, the table and the column. So:

- no plaintext is stored, and without the organisation's data key (thus its KMS key, P6) a term cannot be
  computed or tested against a guess: the database, backups and support staff see 16-bit numbers;
- the same value has unrelated terms in two organisations, and in two columns of one organisation;
- erasure (P10) destroys the key with the data key: crypto-shredding covers the index too.

What a term reveals: within ONE organisation and column, rows with equal values have equal terms, and rows
with different values collide with probability 2**-16 (one in 65,536). So whoever reads the table sees a
partition of that organisation's rows into at most 65,536 classes (frequency analysis on a low-cardinality
field like the model name shows how many rows share a value, never which value); it does not learn whether a
value equals one of another organisation, nor any value. The truncation is what keeps the partition coarse
for high-cardinality values: many distinct values share each term.

False positives: a filter matches its value's term, so about n / 65,536 of an organisation's n non-matching
rows match too (15 per million). The data layer decrypts every candidate and keeps only exact matches, so
results are exact; the false positives cost a decryption each, nothing else.

The same derivation gives the organisation's page-cursor key (`cursor_key`): a cursor is MAC'd under a key
only its organisation's requests can derive, so another organisation's cursor never verifies (runtime/db/paging.py).

This module reaches into `EnvelopeCipher`'s data-key cache on purpose: the index key is loaded with the data
key it derives from (one KMS call, not two) and `shred_owner` forgets both at once.
"""

import hmac
from typing import Final

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runtime.envelope.cipher import EnvelopeCipher, _LoadedKey
from runtime.envelope.keys import KEY_BYTES, DataKey
from runtime.errors import DataKeyUnavailableError, DecryptionError

TERM_BITS: Final = 16
TERM_MAX: Final = 2**TERM_BITS - 1
FALSE_POSITIVE_RATE: Final = 2.0**-TERM_BITS
_INDEX_LABEL: Final = b"platform/blind-index/v1\x00"
_CURSOR_LABEL: Final = b"platform/page-cursor/v1\x00"


class _NoDataKey(Exception):
    """The organisation has no data key yet (nothing of it is stored): raised through the cache, never cached."""


def _derive(data_key: DataKey, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info + data_key.key_id).derive(
        data_key.material.secret_bytes()
    )


def _context(*parts: str) -> bytes:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
    return b"".join(len(p.encode()).to_bytes(2, "big") + p.encode() for p in parts)


class OwnerKeys:
    """Keys of one organisation derived from its data key: blind index keys and the page-cursor key."""

    def __init__(self, cipher: EnvelopeCipher) -> None:
        self._cipher = cipher

    def _data_key(self, owner: str, *, create: bool) -> DataKey | None:
        cipher = self._cipher
        if create:  # a write: the cipher has just made (or loaded) the key it encrypts under
            return cipher._cache.get_or_load(owner, cipher._load_for_encrypt).data_key
        try:
            return cipher._cache.get_or_load(owner, self._load_existing).data_key
        except _NoDataKey:
            return None

    def _load_existing(self, key: object) -> _LoadedKey:
        """Like the cipher's encrypt-side load, but a read never creates a data key."""
        assert isinstance(key, str)
        cipher = self._cipher
        stored = cipher._store.current(key)
        if stored is None:
            raise _NoDataKey()
        try:
            material = cipher._keyring.unwrap_data_key(key, stored.wrapped)
        except DecryptionError:
            raise DataKeyUnavailableError(
                f"the stored data key of owner {key} does not unwrap with {cipher._keyring!r}"
            ) from None
        return cipher._remember(key, DataKey(stored.key_id, material))

    def index_key(self, owner: str, table: str, column: str, *, create: bool) -> bytes | None:
        """The blind index key of `table.column` for `owner`; None when a read finds no data key (no rows)."""
        data_key = self._data_key(owner, create=create)
        return None if data_key is None else _derive(data_key, _INDEX_LABEL + _context(owner, table, column))

    def cursor_key(self, owner: str) -> bytes | None:
        """The key page cursors of `owner` are MAC'd under; None when it has no data key (hence no rows)."""
        data_key = self._data_key(owner, create=False)
        return None if data_key is None else _derive(data_key, _CURSOR_LABEL + _context(owner))


def term(key: bytes, value: bytes) -> int:
    """The 16-bit blind index term of `value` under `key`."""
    return int.from_bytes(hmac.digest(key, value, "sha256")[: TERM_BITS // 8], "big")
