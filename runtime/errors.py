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


# --- Database: connections, owner-only access, schema (P3, P4, P5) ----------------------------------


class DatabaseError(PlatformError):
    """Base of the database errors. `sqlstate` is the server's code when there is one."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class InsecureConnectionError(DatabaseError, ConfigurationError):
    """A connection setting is weaker than TLS with `sslmode=verify-full` and a CA bundle; nothing was sent."""


class DatabaseUnavailableError(DatabaseError):
    """The server could not be reached, or the connection broke."""


class PoolExhaustedError(DatabaseUnavailableError):
    """No pooled connection was free in time (every one is busy, or the pool cannot open new ones)."""


class TlsVerificationError(DatabaseUnavailableError):
    """The server's certificate did not verify against the configured CA bundle, or names another host."""


class AuthenticationFailedError(DatabaseError):
    """The server refused the login (bad password or IAM token, no TLS, or no pg_hba entry)."""


class PermissionDeniedError(DatabaseError):
    """The connected role lacks a privilege (SQLSTATE 42501)."""


class RowLevelSecurityError(PermissionDeniedError):
    """A write was refused by row-level security: the row belongs to another owner than the bound one (P3)."""


class InvalidOwnerError(DatabaseError, ValueError):
    """An owner, actor or request id is not a well-formed identifier; checked before any SQL is sent."""


class InvalidRecordError(DatabaseError, ValueError):
    """A record names an unknown table or column, or a value has the wrong type; checked before any SQL."""


class ConflictError(DatabaseError):
    """A unique key already exists (SQLSTATE 23505)."""


class IntegrityViolationError(DatabaseError):
    """A constraint refused the row (SQLSTATE class 23): a reference to a missing row, a NULL, or a value
    in a SENSITIVE column that is not envelope ciphertext."""


class InvalidValueError(DatabaseError, ValueError):
    """The server could not interpret a value (SQLSTATE class 22)."""


class RetryableError(DatabaseError):
    """Serialization failure or deadlock (40001, 40P01): retry the whole transaction."""


class SchemaError(DatabaseError):
    """The schema is missing, outdated or unsafe; run the migrations or fix the named object."""


class MigrationError(SchemaError):
    """A migration could not be applied, or an applied one was changed afterwards."""


class UnclassifiedColumnError(MigrationError):
    """A table or column in the database is not declared in the classification registry (P2)."""


class SelfCheckError(SchemaError):
    """The startup self-check found the connection unsafe to serve owner data; the service refuses to start."""


# --- Audit trail (P14) -----------------------------------------------------------------------------


class AuditError(PlatformError):
    """The audit trail could not be written or read."""


class AuditKeyError(AuditError, ConfigurationError):
    """The audit chain key is missing or too short."""


class InvalidAuditEventError(AuditError, ValueError):
    """An audit event has a field of the wrong kind (the ledger holds ids, enums and counts only)."""


# --- Breach response (P12) -------------------------------------------------------------------------


class BreachError(PlatformError):
    """Base of the breach-response errors."""


class InvalidScopeError(BreachError, ValueError):
    """The declared scope (window, tables, actors, organisations, keys, summary) is malformed; nothing was
    recorded."""


class IncidentNotFoundError(BreachError):
    """No incident has this id."""


class NotificationError(BreachError):
    """A notifier could not deliver one notification. `code` is the provider's error code (never its message,
    which may quote the address); `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class NotifierConfigurationError(BreachError, ConfigurationError):
    """The notifier (SES sender, file directory, incident topic) is not configured."""


# --- Point-in-time restore (P11) -------------------------------------------------------------------


class RestoreError(PlatformError):
    """Base of the restore errors. Messages name the state left behind and the next step."""


class RestoreSourceNotFoundError(RestoreError):
    """The source cluster does not exist in this account and region."""


class RestoreWindowError(RestoreError, ValueError):
    """The requested time is outside the cluster's restorable window."""


class RestorePlanError(RestoreError, ValueError):
    """The plan cannot be made: bad target id, the target already exists, or the source is unsuitable."""


class RestoreStepError(RestoreError):
    """A step of `restore apply` failed; the message says what exists now and how to resume or clean up."""


class RestoreVerificationError(RestoreError):
    """The restored cluster is up but failed a verification check; do not cut over to it."""


# --- Lifecycle jobs: portability export (P13) and erasure on request (P10) ------------------------------


class LifecycleError(PlatformError):
    """Base of the export and erasure errors."""


class UnknownOrganisationError(LifecycleError):
    """No organisation has this id, and no erasure of one is on record: nothing was exported or erased."""


class ErasureInProgressError(LifecycleError):
    """The organisation is being erased, or was: its data can no longer be written or exported."""


class ExportError(LifecycleError):
    """An export could not be written, uploaded or read back."""


class ExportDestinationError(ExportError):
    """The export destination is unusable: a malformed `--dest`, a non-empty directory, or S3 refused."""


class InvalidManifestError(ExportError):
    """An export's manifest.json is missing, malformed, or names files outside the export."""


class ReceiptError(LifecycleError):
    """An erasure receipt is malformed, or its MAC does not verify."""


class ReceiptKeyError(ReceiptError, ConfigurationError):
    """The erasure receipt MAC key is missing or too short."""


class ReceiptSigningError(ReceiptError):
    """An erasure receipt could not be signed, or the signing key's public key could not be read (KMS refused or
    is unreachable, or the key is not an ECC_NIST_P256 SIGN_VERIFY key)."""
