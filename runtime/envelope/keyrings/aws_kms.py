"""The production keyring: data keys generated and unwrapped by AWS KMS under the environment's
application key, each bound to an encryption context (environment, owner, purpose).

The KMS client is injected (a boto3 `kms` client in the service, moto or a stub in tests);
nothing here builds one. Errors are read from the client error's `response`, the shape botocore
uses, so this module needs no botocore import.
"""

from collections.abc import Mapping
from typing import Any

from runtime.aws_protocols import KmsClient
from runtime.envelope.keyrings.base import Keyring, encryption_context
from runtime.envelope.keys import KEY_BYTES, KeyMaterial
from runtime.errors import (
    DecryptionError,
    KmsAccessDeniedError,
    KmsError,
    KmsKeyUnavailableError,
    KmsThrottledError,
)

# KMS error codes by what they mean for a caller (shared by every KMS keyring).
THROTTLED = {"ThrottlingException", "Throttling", "RequestLimitExceeded", "LimitExceededException"}
DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
UNAVAILABLE = {"DisabledException", "KMSInvalidStateException", "KeyUnavailableException", "NotFoundException"}
# The wrapped key is not one this application key wrapped for this context: a decryption failure.
NOT_OURS = {"InvalidCiphertextException", "IncorrectKeyException"}


class AwsKmsKeyring(Keyring):
    def __init__(self, *, client: KmsClient, key_id: str, environment: str) -> None:
        super().__init__(environment=environment)
        if not key_id:
            raise ValueError("the KMS keyring needs the application key's ARN or alias")
        self._client = client
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"AwsKmsKeyring(key_id={self.key_id!r}, environment={self.environment!r})"

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        self._count_call()
        try:
            response = self._client.generate_data_key(
                KeyId=self.key_id,
                KeySpec="AES_256",
                EncryptionContext=encryption_context(self.environment, owner),
            )
        except Exception as exc:  # every client failure becomes a typed error
            raise self._translate(exc, "GenerateDataKey") from exc
        return self._material(response), bytes(response["CiphertextBlob"])

    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial:
        self._count_call()
        try:
            response = self._client.decrypt(
                CiphertextBlob=wrapped,
                KeyId=self.key_id,  # refuse blobs wrapped under any other key
                EncryptionContext=encryption_context(self.environment, owner),
            )
        except Exception as exc:
            if error_code(exc) in NOT_OURS:
                raise DecryptionError() from None
            raise self._translate(exc, "Decrypt") from exc
        return self._material(response)

    def _material(self, response: Mapping[str, Any]) -> KeyMaterial:
        plaintext = response.get("Plaintext")
        if not isinstance(plaintext, bytes) or len(plaintext) != KEY_BYTES:
            raise KmsError(f"KMS returned no 256-bit data key for {self.key_id}; check that it is a symmetric key")
        return KeyMaterial(plaintext)

    def _translate(self, exc: Exception, operation: str) -> KmsError:
        code = error_code(exc)
        key = self.key_id
        if code in THROTTLED:
            return KmsThrottledError(
                f"KMS throttled {operation} on {key}; retry with backoff, or raise the DEK cache's max age "
                "so fewer calls are made",
                code=code,
            )
        if code in DENIED:
            return KmsAccessDeniedError(
                f"KMS denied {operation} on {key}; grant the task role kms:{operation} on this key, with the "
                "environment's encryption context, in the key policy or IAM policy",
                code=code,
            )
        if code in UNAVAILABLE:
            return KmsKeyUnavailableError(
                f"KMS key {key} cannot be used for {operation} ({code}): it is disabled, pending deletion or "
                "missing; re-enable it, cancel its deletion, or fix the configured key id",
                code=code,
            )
        if code is not None:
            return KmsError(f"KMS {operation} on {key} failed with {code}", code=code)
        return KmsError(f"KMS {operation} on {key} failed: {type(exc).__name__}; check connectivity to KMS")


def error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return code if isinstance(code, str) else None
    return None
