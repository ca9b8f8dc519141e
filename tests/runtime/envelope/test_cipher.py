import os
import pickle

import pytest

from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, KeyMaterial, LocalKeyring
from runtime.envelope import format as fmt
from runtime.errors import DataKeyUnavailableError, DecryptionError, InvalidInputError

WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024, 8 * 1024 * 1024])
def test_cipher_round_trip_returns_plaintext(cipher: EnvelopeCipher, size: int) -> None:
    plaintext = os.urandom(size)
    blob = cipher.encrypt(plaintext, **WHERE)
    assert len(blob) == size + fmt.MIN_CIPHERTEXT_BYTES
    assert cipher.decrypt(blob, **WHERE) == plaintext


def test_cipher_same_value_twice_gives_different_ciphertexts(cipher: EnvelopeCipher) -> None:
    first, second = cipher.encrypt(b"same", **WHERE), cipher.encrypt(b"same", **WHERE)
    assert first != second
    assert first[fmt.NONCE_AT : fmt.COMMITMENT_AT] != second[fmt.NONCE_AT : fmt.COMMITMENT_AT]


def test_cipher_columns_encrypt_each_value_for_its_row_and_column(cipher: EnvelopeCipher) -> None:
    sealed = cipher.encrypt_columns({"body": [b"one", None, b"three"], "name": [None, b"two", b"three"]},
                                    owner="org-1", table="prompts", row_ids=["row-1", "row-2", "row-3"])
    assert sealed["body"][1] is None and sealed["name"][0] is None
    blobs = {(c, i): b for c, values in sealed.items() for i, b in enumerate(values, 1) if b is not None}

    def opened(column: str, row: int, *, as_column: str | None = None, as_row: int | None = None) -> bytes:
        return cipher.decrypt(blobs[column, row], owner="org-1", table="prompts", column=as_column or column,
                              row_id=f"row-{as_row or row}")

    assert [opened("body", 1), opened("name", 2), opened("body", 3), opened("name", 3)] == [
        b"one", b"two", b"three", b"three"]
    nonces = {b[fmt.NONCE_AT : fmt.COMMITMENT_AT] for b in blobs.values()}
    assert len(nonces) == len(blobs) == 4
    for moved in ({"as_row": 2}, {"as_column": "name"}):
        with pytest.raises(DecryptionError):  # bound to its own row and column
            opened("body", 1, **moved)


@pytest.mark.parametrize("columns", [{"body": [b"a"]}, {"body": [b"a", "text"]}, {"body": [b"a", bytearray(b"b")]}])
def test_cipher_columns_bad_input_raises_before_any_key_work(
    cipher: EnvelopeCipher, local_keyring: LocalKeyring, columns: dict[str, list[object]]
) -> None:
    with pytest.raises(InvalidInputError):
        cipher.encrypt_columns(columns, owner="org-1", table="prompts", row_ids=["r1", "r2"])  # type: ignore[arg-type]
    assert local_keyring.calls == 0


def test_cipher_ciphertext_starts_with_version_and_hides_plaintext(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"A" * 64, **WHERE)
    assert blob[0] == fmt.VERSION
    assert b"AAAA" not in blob


def test_cipher_every_single_byte_change_fails(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"thirty-two bytes of sensitive..", **WHERE)
    for position in range(len(blob)):
        for flip in (0x01, 0x80, 0xFF):
            tampered = bytearray(blob)
            tampered[position] ^= flip
            with pytest.raises(DecryptionError):
                cipher.decrypt(bytes(tampered), **WHERE)


def test_cipher_every_truncation_and_extension_fails(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"value", **WHERE)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob[:length], **WHERE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob + b"\x00", **WHERE)


@pytest.mark.parametrize(
    "moved_to",
    [
        {"row_id": "row-2"},
        {"column": "name"},
        {"table": "datasets"},
        {"owner": "org-2"},
        {"table": "prompt", "column": "sbody"},  # same concatenation, different split
    ],
)
def test_cipher_value_moved_to_other_aad_fails(cipher: EnvelopeCipher, moved_to: dict[str, str]) -> None:
    cipher.encrypt(b"warm org-2's key too", **{**WHERE, "owner": "org-2"})
    blob = cipher.encrypt(b"secret", **WHERE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, **{**WHERE, **moved_to})


def test_cipher_unknown_version_fails(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"secret", **WHERE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes([2]) + blob[1:], **WHERE)


def test_cipher_wrong_keyring_fails_decrypt_and_encrypt(
    cipher: EnvelopeCipher, store: InMemoryWrappedKeyStore
) -> None:
    blob = cipher.encrypt(b"secret", **WHERE)
    other = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="dev"), store=store)
    with pytest.raises(DecryptionError):
        other.decrypt(blob, **WHERE)
    with pytest.raises(DataKeyUnavailableError, match="does not unwrap"):
        other.encrypt(b"more", **WHERE)


def test_cipher_keyring_of_other_environment_fails(store: InMemoryWrappedKeyStore) -> None:
    master = KeyMaterial(os.urandom(32))
    dev = EnvelopeCipher(keyring=LocalKeyring(master, environment="dev"), store=store)
    qa = EnvelopeCipher(keyring=LocalKeyring(master, environment="qa"), store=store)
    blob = dev.encrypt(b"secret", **WHERE)
    with pytest.raises(DecryptionError):
        qa.decrypt(blob, **WHERE)


def test_cipher_missing_wrapped_key_fails(cipher: EnvelopeCipher, local_keyring: LocalKeyring) -> None:
    blob = cipher.encrypt(b"secret", **WHERE)
    empty_store = EnvelopeCipher(keyring=local_keyring, store=InMemoryWrappedKeyStore())
    with pytest.raises(DecryptionError):
        empty_store.decrypt(blob, **WHERE)


def test_cipher_shred_owner_makes_its_data_unreadable(cipher: EnvelopeCipher) -> None:
    mine = cipher.encrypt(b"erase me", **WHERE)
    theirs = cipher.encrypt(b"keep me", **{**WHERE, "owner": "org-2"})
    assert cipher.shred_owner("org-1") == 1
    with pytest.raises(DecryptionError):
        cipher.decrypt(mine, **WHERE)
    assert cipher.decrypt(theirs, **{**WHERE, "owner": "org-2"}) == b"keep me"


def test_cipher_shred_then_encrypt_uses_new_key(cipher: EnvelopeCipher) -> None:
    old = cipher.encrypt(b"old", **WHERE)
    cipher.shred_owner("org-1")
    new = cipher.encrypt(b"new", **WHERE)
    assert new[fmt.KEY_ID_AT : fmt.SALT_AT] != old[fmt.KEY_ID_AT : fmt.SALT_AT]
    assert cipher.decrypt(new, **WHERE) == b"new"


def test_cipher_stats_count_one_keyring_call_per_owner(cipher: EnvelopeCipher) -> None:
    for owner in ("a", "b", "c"):
        for row in range(10):
            blob = cipher.encrypt(b"v", **{**WHERE, "owner": owner, "row_id": str(row)})
            cipher.decrypt(blob, **{**WHERE, "owner": owner, "row_id": str(row)})
    stats = cipher.stats()
    assert stats.keyring_calls == 3
    assert stats.cache_misses == 3
    assert stats.cache_hits == 3 * 20 - 3


@pytest.mark.parametrize(
    ("plaintext", "where"),
    [
        ("text", WHERE),
        (bytearray(b"x"), WHERE),
        (b"x", {**WHERE, "owner": ""}),
        (b"x", {**WHERE, "row_id": 7}),
        (b"x", {**WHERE, "table": ["prompts"]}),
        (b"x", {**WHERE, "column": "c" * 70_000}),
    ],
)
def test_cipher_bad_input_raises_before_any_key_work(
    cipher: EnvelopeCipher, plaintext: object, where: dict[str, object]
) -> None:
    with pytest.raises(InvalidInputError):
        cipher.encrypt(plaintext, **where)  # type: ignore[arg-type]
    assert cipher.stats().keyring_calls == 0


def test_cipher_non_bytes_ciphertext_raises_input_error(cipher: EnvelopeCipher) -> None:
    with pytest.raises(InvalidInputError):
        cipher.decrypt("not bytes", **WHERE)  # type: ignore[arg-type]


def test_cipher_decryption_error_says_nothing_specific(cipher: EnvelopeCipher) -> None:
    blob = cipher.encrypt(b"secret", **WHERE)
    messages = set()
    for bad in (blob[:-1], blob[:10], bytes([9]) + blob[1:], blob[:50] + bytes([blob[50] ^ 1]) + blob[51:]):
        with pytest.raises(DecryptionError) as raised:
            cipher.decrypt(bad, **WHERE)
        assert raised.value.__cause__ is None
        messages.add(str(raised.value))
    with pytest.raises(DecryptionError) as raised:
        cipher.decrypt(blob, **{**WHERE, "row_id": "row-2"})
    messages.add(str(raised.value))
    assert len(messages) == 1


def test_key_material_is_hidden_from_repr_str_and_pickle(local_keyring: LocalKeyring) -> None:
    material, _ = local_keyring.generate_data_key("org-1")
    secret = material.secret_bytes()
    for shown in (repr(material), str(material), f"{material}", repr(local_keyring)):
        assert secret.hex() not in shown
        assert repr(secret) not in shown
        assert "redacted" in shown or "LocalKeyring" in shown
    with pytest.raises(TypeError):
        pickle.dumps(material)


def test_key_material_wrong_length_raises_without_echo() -> None:
    with pytest.raises(ValueError, match="32 bytes") as raised:
        KeyMaterial(b"k" * 31)
    assert "kkk" not in str(raised.value)
