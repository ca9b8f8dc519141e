"""Property-based tests (hypothesis): what no input may ever do."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, KeyMaterial, LocalKeyring
from runtime.envelope import format as fmt
from runtime.errors import DecryptionError

WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}
names = st.text(min_size=1, max_size=40)

# One cipher for all examples: hypothesis reuses it, so key loading is not what is measured.
CIPHER = EnvelopeCipher(
    keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="dev"), store=InMemoryWrappedKeyStore()
)
REAL = CIPHER.encrypt(b"a real value of some length", **WHERE)
REAL_PREFIX = REAL[: fmt.SALT_AT]  # version and a key id that exists, so decryption gets past the lookup

common = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(st.binary(max_size=400))
def test_cipher_random_bytes_never_decrypt(garbage: bytes) -> None:
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(garbage, **WHERE)


@common
@given(st.binary(min_size=fmt.MIN_CIPHERTEXT_BYTES - fmt.SALT_AT, max_size=400))
def test_cipher_random_bytes_after_real_key_id_never_decrypt(rest: bytes) -> None:
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(REAL_PREFIX + rest, **WHERE)


@common
@given(st.integers(0, len(REAL) - 1), st.integers(1, 255))
def test_cipher_any_byte_change_never_decrypts(position: int, flip: int) -> None:
    tampered = bytearray(REAL)
    tampered[position] ^= flip
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(bytes(tampered), **WHERE)


@common
@given(st.binary(max_size=2048), names, names, names, names)
def test_cipher_round_trip_any_value_and_names(value: bytes, owner: str, table: str, column: str, row: str) -> None:
    where = {"owner": owner, "table": table, "column": column, "row_id": row}
    assert CIPHER.decrypt(CIPHER.encrypt(value, **where), **where) == value


@common
@given(st.tuples(names, names, names, names), st.tuples(names, names, names, names))
def test_cipher_other_context_never_decrypts(
    written: tuple[str, str, str, str], read: tuple[str, str, str, str]
) -> None:
    keys = ("owner", "table", "column", "row_id")
    blob = CIPHER.encrypt(b"value", **dict(zip(keys, written, strict=True)))
    if read == written:
        return
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(blob, **dict(zip(keys, read, strict=True)))
