"""Key material that never shows itself, and the derivation of per-batch field keys.

Key commitment: from a data key (DEK) and a random 16-byte salt, HKDF-SHA-512 derives 64 bytes:
an AES-256-GCM key and a 32-byte commitment value. The commitment travels in every ciphertext
and is checked before decryption, so a ciphertext opens under one DEK only (finding a second
DEK with the same commitment means a collision in HMAC-SHA-512 truncated to 256 bits).

Why per batch and not per message: deriving a key and building its AES context costs more
than encrypting 1 KiB, so a salt (and its derived key) is drawn once per cache period of the
DEK and shared by at most `max_uses` values, each with its own random 96-bit nonce.
"""

from dataclasses import dataclass, field
from typing import NoReturn

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
COMMITMENT_BYTES = 32
_DERIVATION_LABEL = b"platform/envelope/v1/field-key"


class KeyMaterial:
    """256 bits of secret key. Hidden from repr, str, format and pickling."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if type(secret) is not bytes or len(secret) != KEY_BYTES:
            # Say nothing about the value itself, not even its length.
            raise ValueError(f"key material must be exactly {KEY_BYTES} bytes")
        self._secret = secret

    def secret_bytes(self) -> bytes:
        """The raw key, for keyrings (to wrap it) and derivation only; never log or return it."""
        return self._secret

    def __repr__(self) -> str:
        return "KeyMaterial(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True, slots=True)
class DataKey:
    """An owner's unwrapped data key and the identifier its ciphertexts carry."""

    key_id: bytes
    material: KeyMaterial = field(repr=False)


@dataclass(frozen=True, slots=True)
class FieldKey:
    """An AES-256-GCM key derived from a DEK and a salt, with its commitment value."""

    salt: bytes
    aead: AESGCM = field(repr=False)
    commitment: bytes = field(repr=False)


def derive_field_key(data_key: DataKey, salt: bytes) -> FieldKey:
    # The key id goes into `info`, so the same DEK stored under two ids derives different keys.
    okm = HKDF(
        algorithm=SHA512(),
        length=KEY_BYTES + COMMITMENT_BYTES,
        salt=salt,
        info=_DERIVATION_LABEL + data_key.key_id,
    ).derive(data_key.material.secret_bytes())
    return FieldKey(salt=salt, aead=AESGCM(okm[:KEY_BYTES]), commitment=okm[KEY_BYTES:])
