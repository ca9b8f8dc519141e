"""Encrypt/decrypt throughput of the runtime on 1 KiB values, against raw AES-GCM and the ESDK."""

import os
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.harness import Workload
from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, KeyMaterial, LocalKeyring

VALUE_BYTES = 1024
OWNER, TABLE, COLUMN = "8d7c0a4e-6f1b-4a53-9d0e-2b7f4c1e9a10", "model_calls", "input"


def _rows(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def runtime_workloads(ops: int) -> dict[str, tuple[Workload, int]]:
    """Our encrypt and decrypt: one owner, distinct row ids, the cipher's default cache."""
    cipher = EnvelopeCipher(
        keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="bench"), store=InMemoryWrappedKeyStore()
    )
    value = os.urandom(VALUE_BYTES)
    rows = _rows(ops)
    encrypt, decrypt = cipher.encrypt, cipher.decrypt
    blobs = [encrypt(value, owner=OWNER, table=TABLE, column=COLUMN, row_id=r) for r in rows]
    pairs = list(zip(blobs, rows, strict=True))

    def encrypt_all() -> None:
        for row in rows:
            encrypt(value, owner=OWNER, table=TABLE, column=COLUMN, row_id=row)

    def decrypt_all() -> None:
        for blob, row in pairs:
            decrypt(blob, owner=OWNER, table=TABLE, column=COLUMN, row_id=row)

    return {"encrypt": (encrypt_all, ops), "decrypt": (decrypt_all, ops)}


def raw_aesgcm_workload(ops: int) -> tuple[Workload, int]:
    """cryptography's AESGCM alone: one key object, a random nonce per value, no AAD, no format."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    value = os.urandom(VALUE_BYTES)
    rows = _rows(ops)  # same loop shape as ours
    urandom = os.urandom

    def encrypt_all() -> None:
        for _row in rows:
            aead.encrypt(urandom(12), value, None)

    return encrypt_all, ops


def esdk_workloads(keyring_ops: int, masterkey_ops: int) -> dict[str, tuple[Workload, int]]:
    """aws-encryption-sdk 4.x, committing suite without signatures, same 1 KiB values.

    `esdk_keyring`: the raw AES keyring (material providers library), as the issue specifies.
    `esdk_masterkey`: the legacy raw master key, the ESDK's fastest local path, for reference.
    Owner, table, column and row go into the encryption context, as our AAD binds them.
    """
    import aws_encryption_sdk
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import AesWrappingAlg, CreateRawAesKeyringInput
    from aws_encryption_sdk.identifiers import Algorithm, EncryptionKeyType, WrappingAlgorithm
    from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
    from aws_encryption_sdk.key_providers.raw import RawMasterKey

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    suite = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    wrapping_key = os.urandom(32)
    keyring = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig()).create_raw_aes_keyring(
        input=CreateRawAesKeyringInput(
            key_namespace="bench",
            key_name="wrapping-key",
            wrapping_key=wrapping_key,
            wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
        )
    )
    master_key = RawMasterKey(
        provider_id="bench",
        key_id=b"wrapping-key",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=wrapping_key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    value = os.urandom(VALUE_BYTES)

    def run(ops: int, **provider: Any) -> tuple[Workload, int]:
        contexts = [{"owner": OWNER, "table": TABLE, "column": COLUMN, "row_id": row} for row in _rows(ops)]

        def encrypt_all() -> None:
            for context in contexts:
                client.encrypt(source=value, algorithm=suite, encryption_context=context, **provider)

        return encrypt_all, ops

    return {
        "esdk_keyring": run(keyring_ops, keyring=keyring),
        "esdk_masterkey": run(masterkey_ops, key_provider=master_key),
    }
