"""Key commitment, shown against a real multi-key AES-GCM ciphertext ("invisible salamanders").

Plain AES-GCM is not committing: for any two keys one can compute a ciphertext and tag that
decrypt under both. The test builds such a ciphertext for the field keys of two data keys,
checks that plain AES-GCM accepts it under both, and that the envelope format opens it under
the data key its commitment names and refuses it under the other one.

The field-key derivation and associated data are recomputed here from the format's written
specification (format.py, keys.py), which doubles as a conformance check.
"""

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, LocalKeyring, StoredKey
from runtime.errors import DecryptionError

WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}
_R = 0xE1 << 120


def _gf_mul(x: int, y: int) -> int:
    """Multiplication in GCM's GF(2^128) (bit-reflected, NIST SP 800-38D algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _gf_pow(x: int, n: int) -> int:
    result = 1 << 127  # the field's one
    while n:
        if n & 1:
            result = _gf_mul(result, x)
        x = _gf_mul(x, x)
        n >>= 1
    return result


def _gf_inv(x: int) -> int:
    return _gf_pow(x, 2**128 - 2)


def _blocks(data: bytes) -> list[int]:
    padded = data + b"\x00" * (-len(data) % 16)
    return [int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16)]


def _ghash(h: int, aad: bytes, ciphertext: bytes) -> int:
    lengths = ((len(aad) * 8) << 64) | (len(ciphertext) * 8)
    x = 0
    for block in [*_blocks(aad), *_blocks(ciphertext), lengths]:
        x = _gf_mul(x ^ block, h)
    return x


def _aes_block(key: bytes, block: bytes) -> int:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 -- one raw block
    return int.from_bytes(encryptor.update(block) + encryptor.finalize(), "big")


def _two_key_gcm(key1: bytes, key2: bytes, nonce: bytes, aad: bytes, blocks: int) -> bytes:
    """Ciphertext||tag that AES-GCM accepts under both keys (last ciphertext block solved for)."""
    h1, h2 = _aes_block(key1, b"\x00" * 16), _aes_block(key2, b"\x00" * 16)
    j0 = nonce + b"\x00\x00\x00\x01"
    s1, s2 = _aes_block(key1, j0), _aes_block(key2, j0)
    ciphertext = os.urandom(16 * (blocks - 1)) + b"\x00" * 16
    # GHASH is affine in the free block C: C * (H1^e + H2^e) must cancel the rest of the difference.
    exponent = 2  # the free block is followed by the length block only
    rhs = s1 ^ s2 ^ _ghash(h1, aad, ciphertext) ^ _ghash(h2, aad, ciphertext)
    free = _gf_mul(rhs, _gf_inv(_gf_pow(h1, exponent) ^ _gf_pow(h2, exponent)))
    ciphertext = ciphertext[:-16] + free.to_bytes(16, "big")
    tag = (s1 ^ _ghash(h1, aad, ciphertext)).to_bytes(16, "big")
    return ciphertext + tag


def _field_key(dek: bytes, key_id: bytes, salt: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(SHA512(), 64, salt=salt, info=b"platform/envelope/v1/field-key" + key_id).derive(dek)
    return okm[:32], okm[32:]


def _aad(header: bytes, **where: str) -> bytes:
    parts = [where[name].encode() for name in ("owner", "table", "column", "row_id")]
    return header + b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def test_commitment_real_ciphertext_matches_specification(
    cipher: EnvelopeCipher, local_keyring: LocalKeyring, store: InMemoryWrappedKeyStore
) -> None:
    blob = cipher.encrypt(b"spec check", **WHERE)
    key_id, salt, nonce, commitment = blob[1:9], blob[9:25], blob[25:37], blob[37:69]
    stored = store.get("org-1", key_id)
    assert stored is not None
    dek = local_keyring.unwrap_data_key("org-1", stored.wrapped).secret_bytes()
    aes_key, expected_commitment = _field_key(dek, key_id, salt)
    assert commitment == expected_commitment
    assert AESGCM(aes_key).decrypt(nonce, blob[69:], _aad(blob[:69], **WHERE)) == b"spec check"


def test_commitment_two_key_gcm_ciphertext_opens_under_committed_key_only(local_keyring: LocalKeyring) -> None:
    material1, wrapped1 = local_keyring.generate_data_key("org-1")
    material2, wrapped2 = local_keyring.generate_data_key("org-1")
    key_id, salt, nonce = os.urandom(8), os.urandom(16), os.urandom(12)
    aes1, commitment1 = _field_key(material1.secret_bytes(), key_id, salt)
    aes2, _ = _field_key(material2.secret_bytes(), key_id, salt)
    header = b"\x01" + key_id + salt + nonce + commitment1
    aad = _aad(header, **WHERE)
    sealed = _two_key_gcm(aes1, aes2, nonce, aad, blocks=4)

    # Plain AES-GCM is fooled: both keys accept, with different plaintexts.
    assert AESGCM(aes1).decrypt(nonce, sealed, aad) != AESGCM(aes2).decrypt(nonce, sealed, aad)

    blob = header + sealed
    committed, other = (_reader(local_keyring, key_id, wrapped) for wrapped in (wrapped1, wrapped2))
    assert committed.decrypt(blob, **WHERE) == AESGCM(aes1).decrypt(nonce, sealed, aad)
    with pytest.raises(DecryptionError):
        other.decrypt(blob, **WHERE)


def _reader(keyring: LocalKeyring, key_id: bytes, wrapped: bytes) -> EnvelopeCipher:
    store = InMemoryWrappedKeyStore()
    store.add("org-1", StoredKey(key_id, wrapped))
    return EnvelopeCipher(keyring=keyring, store=store)
