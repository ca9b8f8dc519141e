"""Every error the runtime raises derives from `PlatformError`.

Messages say what to do. None of them ever carries key material, plaintext or the value
that was refused: they name kinds, fields and variables only.
"""


class PlatformError(Exception):
    """Root of every error raised on purpose by the `runtime` package."""


class ConfigurationError(PlatformError):
    """A container setting (environment variable, key file) is missing or malformed."""


# --- Classification and the NOT_SENSITIVE boundary (P2, P7) -----------------------------------------


class TelemetryError(PlatformError):
    """A telemetry or audit event was refused; nothing was written."""


class NotAllowlistedError(TelemetryError):
    """The event or one of its fields is not in the allowlisted schema, or has the wrong type."""


class SensitiveDataError(TelemetryError):
    """A SENSITIVE (or unclassified, hence SENSITIVE) value was passed to a NOT_SENSITIVE sink."""


class PiiDetectedError(SensitiveDataError):
    """The scrubber found personal data or a secret in a value bound for a NOT_SENSITIVE sink."""


# --- Envelope encryption (P6, P10) ------------------------------------------------------------------


class CryptoError(PlatformError):
    """Base of the envelope-encryption errors."""


class InvalidInputError(CryptoError, ValueError):
    """An argument to encrypt/decrypt is of the wrong type or empty; checked before any work."""


class DecryptionError(CryptoError):
    """The single, opaque error for every failure to decrypt a field.

    Tampered, truncated, copied to another owner/table/column/row, wrong or missing (shredded) key,
    unknown version: all look the same, so the error is no oracle.
    """

    def __init__(self) -> None:
        super().__init__(
            "the value could not be decrypted: it is damaged, was moved from another owner, table, column "
            "or row, or its data key no longer exists (erased owner)"
        )


class KeyringError(PlatformError):
    """The keyring could not produce or unwrap a data key (not a property of the ciphertext)."""


class DataKeyUnavailableError(KeyringError):
    """The owner's stored data key cannot be unwrapped by this keyring."""


class KmsError(KeyringError):
    """AWS KMS refused or failed a request. Subclasses name the common causes."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class KmsThrottledError(KmsError):
    """KMS throttled the request (request quota exceeded)."""


class KmsAccessDeniedError(KmsError):
    """The task role may not use the application key (IAM policy, key policy or grant)."""


class KmsKeyUnavailableError(KmsError):
    """The application key is disabled, pending deletion, missing or otherwise unusable."""
