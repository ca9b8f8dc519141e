"""The versioned, compact ciphertext format of one field, and its associated data.

    offset  size  field
    0       1     version (1)
    1       8     key id: which of the owner's data keys (looked up in the wrapped-key store)
    9       16    salt: selects the field key derived from the data key (see keys.py)
    25      12    nonce: random, unique per value
    37      32    commitment to the field key (checked before decryption)
    69      n     AES-256-GCM ciphertext of the n-byte value
    69+n    16    GCM tag

85 bytes of overhead per value. The associated data is the 69-byte header followed by the
length-prefixed UTF-8 owner, table, column and row id, so a value copied to another owner,
table, column or row fails to decrypt, and so does any change to the header.
"""

from functools import lru_cache
from typing import Final

from runtime.errors import InvalidInputError

VERSION: Final = 1
KEY_ID_BYTES: Final = 8
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
COMMITMENT_BYTES: Final = 32
TAG_BYTES: Final = 16

KEY_ID_AT: Final = 1
SALT_AT: Final = KEY_ID_AT + KEY_ID_BYTES
NONCE_AT: Final = SALT_AT + SALT_BYTES
COMMITMENT_AT: Final = NONCE_AT + NONCE_BYTES
HEADER_BYTES: Final = COMMITMENT_AT + COMMITMENT_BYTES
MIN_CIPHERTEXT_BYTES: Final = HEADER_BYTES + TAG_BYTES

VERSION_BYTE: Final = bytes([VERSION])
_MAX_NAME_BYTES: Final = 0xFFFF  # two-byte length prefix


def _length_prefixed(what: str, value: object) -> bytes:
    if type(value) is not str or not value:
        raise InvalidInputError(f"{what} must be a non-empty str")
    encoded = value.encode("utf-8")
    if len(encoded) > _MAX_NAME_BYTES:
        raise InvalidInputError(f"{what} is longer than {_MAX_NAME_BYTES} bytes")
    return len(encoded).to_bytes(2, "big") + encoded


@lru_cache(maxsize=4096)
def _cached_column_context(owner: str, table: str, column: str) -> bytes:
    return _length_prefixed("owner", owner) + _length_prefixed("table", table) + _length_prefixed("column", column)


def column_context(owner: str, table: str, column: str) -> bytes:
    """The owner/table/column part of the associated data (cached: a writer repeats them)."""
    try:
        return _cached_column_context(owner, table, column)
    except TypeError:  # unhashable argument: certainly not a str
        raise InvalidInputError("owner, table and column must be non-empty str") from None


def row_context(row_id: str) -> bytes:
    return _length_prefixed("row_id", row_id)
