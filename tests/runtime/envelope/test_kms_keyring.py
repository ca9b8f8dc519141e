"""The KMS keyring against moto, plus botocore Stubber responses for what moto does not model."""

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from runtime.envelope import AwsKmsKeyring, EnvelopeCipher, InMemoryWrappedKeyStore, StoredKey
from runtime.envelope.keyrings import PURPOSE
from runtime.errors import (
    DecryptionError,
    KmsAccessDeniedError,
    KmsError,
    KmsKeyUnavailableError,
    KmsThrottledError,
)

WHERE = {"owner": "org-1", "table": "prompts", "column": "body", "row_id": "row-1"}


class KeyStateEnforcingKms:
    """moto 5.2 serves GenerateDataKey and Decrypt on disabled keys; real KMS answers
    DisabledException (or KMSInvalidStateException when pending deletion). This wrapper reads
    the key state moto keeps (set with the real DisableKey API) and answers as KMS does.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def _refuse_unless_enabled(self, operation: str, key_id: str) -> None:
        state = self._client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        if state == "Disabled":
            error = {"Error": {"Code": "DisabledException", "Message": f"{key_id} is disabled."}}
            raise ClientError(error, operation)
        if state != "Enabled":
            error = {"Error": {"Code": "KMSInvalidStateException", "Message": f"{key_id} is {state}."}}
            raise ClientError(error, operation)

    def generate_data_key(self, **kwargs: Any) -> Any:
        self._refuse_unless_enabled("GenerateDataKey", kwargs["KeyId"])
        return self._client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self._refuse_unless_enabled("Decrypt", kwargs["KeyId"])
        return self._client.decrypt(**kwargs)


def _bare_id(kms_client: Any, arn: str) -> str:
    # moto's DisableKey/ScheduleKeyDeletion look keys up by bare id only; KMS accepts either.
    return str(kms_client.describe_key(KeyId=arn)["KeyMetadata"]["KeyId"])


@pytest.fixture
def keyring(kms_client: Any, kms_key_id: str) -> AwsKmsKeyring:
    return AwsKmsKeyring(client=KeyStateEnforcingKms(kms_client), key_id=kms_key_id, environment="qa")


def test_kms_keyring_round_trip_calls_kms_once_per_owner(keyring: AwsKmsKeyring) -> None:
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())
    for row in range(50):
        where = {**WHERE, "row_id": str(row)}
        assert cipher.decrypt(cipher.encrypt(b"payload", **where), **where) == b"payload"
    assert keyring.calls == 1


def test_kms_keyring_cold_reader_calls_decrypt_once(keyring: AwsKmsKeyring) -> None:
    store = InMemoryWrappedKeyStore()
    blobs = [EnvelopeCipher(keyring=keyring, store=store).encrypt(b"v", **WHERE) for _ in range(3)]
    assert keyring.calls == 3  # three writers: one GenerateDataKey, two Decrypts of the stored key
    reader = EnvelopeCipher(keyring=keyring, store=store)
    assert [reader.decrypt(b, **WHERE) for b in blobs] == [b"v"] * 3
    assert keyring.calls == 4


def test_kms_keyring_sends_environment_owner_and_purpose(kms_key_id: str) -> None:
    calls: list[dict[str, Any]] = []

    class Recorder:
        def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"Plaintext": b"k" * 32, "CiphertextBlob": b"wrapped"}

        def decrypt(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"Plaintext": b"k" * 32}

    keyring = AwsKmsKeyring(client=Recorder(), key_id=kms_key_id, environment="prod")
    keyring.generate_data_key("org-9")
    keyring.unwrap_data_key("org-9", b"wrapped")
    context = {"environment": "prod", "owner": "org-9", "purpose": PURPOSE}
    assert calls[0] == {"KeyId": kms_key_id, "KeySpec": "AES_256", "EncryptionContext": context}
    assert calls[1] == {"CiphertextBlob": b"wrapped", "KeyId": kms_key_id, "EncryptionContext": context}


def test_kms_keyring_wrapped_key_of_other_owner_fails_decrypt(keyring: AwsKmsKeyring) -> None:
    store = InMemoryWrappedKeyStore()
    writer = EnvelopeCipher(keyring=keyring, store=store)
    writer.encrypt(b"v", **{**WHERE, "owner": "org-2"})
    blob = writer.encrypt(b"v", **WHERE)
    # An attacker with write access to the key table copies org-2's wrapped key over org-1's.
    key_id = blob[1:9]
    theirs = store.current("org-2")
    assert theirs is not None
    forged = InMemoryWrappedKeyStore()
    forged.add("org-1", StoredKey(key_id, theirs.wrapped))
    with pytest.raises(DecryptionError):
        EnvelopeCipher(keyring=keyring, store=forged).decrypt(blob, **WHERE)


def test_kms_keyring_disabled_key_raises_key_unavailable(
    keyring: AwsKmsKeyring, kms_client: Any, kms_key_id: str
) -> None:
    store = InMemoryWrappedKeyStore()
    blob = EnvelopeCipher(keyring=keyring, store=store).encrypt(b"v", **WHERE)
    kms_client.disable_key(KeyId=_bare_id(kms_client, kms_key_id))
    with pytest.raises(KmsKeyUnavailableError, match="disabled") as raised:
        EnvelopeCipher(keyring=keyring, store=store).decrypt(blob, **WHERE)
    assert raised.value.code == "DisabledException"
    with pytest.raises(KmsKeyUnavailableError, match="re-enable"):
        EnvelopeCipher(keyring=keyring, store=store).encrypt(b"v", **{**WHERE, "owner": "new-org"})
    kms_client.enable_key(KeyId=_bare_id(kms_client, kms_key_id))
    assert EnvelopeCipher(keyring=keyring, store=store).decrypt(blob, **WHERE) == b"v"


def test_kms_keyring_key_pending_deletion_raises_key_unavailable(
    keyring: AwsKmsKeyring, kms_client: Any, kms_key_id: str
) -> None:
    kms_client.schedule_key_deletion(KeyId=_bare_id(kms_client, kms_key_id), PendingWindowInDays=7)
    with pytest.raises(KmsKeyUnavailableError, match="pending deletion"):
        EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore()).encrypt(b"v", **WHERE)


@pytest.mark.parametrize(
    ("code", "error", "advice"),
    [
        ("AccessDeniedException", KmsAccessDeniedError, "grant the task role kms:GenerateDataKey"),
        ("ThrottlingException", KmsThrottledError, "retry with backoff"),
        ("DisabledException", KmsKeyUnavailableError, "re-enable"),
        ("KMSInternalException", KmsError, "KMSInternalException"),
    ],
)
def test_kms_keyring_client_error_becomes_typed_error(
    kms_client: Any, kms_key_id: str, code: str, error: type[KmsError], advice: str
) -> None:
    keyring = AwsKmsKeyring(client=kms_client, key_id=kms_key_id, environment="qa")
    with Stubber(kms_client) as stub:
        stub.add_client_error("generate_data_key", service_error_code=code, http_status_code=400)
        with pytest.raises(error, match=advice) as raised:
            keyring.generate_data_key("org-1")
    assert type(raised.value) is error
    assert raised.value.code == code


def test_kms_keyring_access_denied_on_decrypt_is_not_a_decryption_error(
    kms_client: Any, kms_key_id: str
) -> None:
    keyring = AwsKmsKeyring(client=kms_client, key_id=kms_key_id, environment="qa")
    store = InMemoryWrappedKeyStore()
    blob = EnvelopeCipher(keyring=keyring, store=store).encrypt(b"v", **WHERE)
    with Stubber(kms_client) as stub:
        stub.add_client_error("decrypt", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(KmsAccessDeniedError, match="kms:Decrypt"):
            EnvelopeCipher(keyring=keyring, store=store).decrypt(blob, **WHERE)


def test_kms_keyring_unreachable_kms_raises_kms_error(kms_key_id: str) -> None:
    class Unreachable:
        def generate_data_key(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.eu-west-1.amazonaws.com")

        def decrypt(self, **kwargs: Any) -> Any:
            raise AssertionError("not called")

    keyring = AwsKmsKeyring(client=Unreachable(), key_id=kms_key_id, environment="qa")
    with pytest.raises(KmsError, match="connectivity"):
        keyring.generate_data_key("org-1")


def test_kms_keyring_short_plaintext_raises_kms_error(kms_key_id: str) -> None:
    class Asymmetric:
        def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
            return {"Plaintext": b"k" * 16, "CiphertextBlob": b"w"}

        def decrypt(self, **kwargs: Any) -> dict[str, Any]:
            return {"Plaintext": b"k" * 16}

    keyring = AwsKmsKeyring(client=Asymmetric(), key_id=kms_key_id, environment="qa")
    with pytest.raises(KmsError, match="256-bit") as raised:
        keyring.generate_data_key("org-1")
    assert "kkkk" not in str(raised.value)
