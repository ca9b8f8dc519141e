"""Who signs erasure receipts (P10), and the public key that verifies them.

- `KmsReceiptSigner`: the environment's asymmetric KMS key (KeySpec ECC_NIST_P256, KeyUsage SIGN_VERIFY),
  `kms:Sign` with SigningAlgorithm ECDSA_SHA_256 and MessageType RAW: KMS hashes the message (SHA-256) itself,
  so what is signed is exactly the receipt's canonical bytes (runtime/lifecycle/receipt.py), at most 4096 bytes
  (KMS's limit for RAW messages; a receipt is about 1 KB). The key id a receipt names is the key's ARN, as
  `kms:GetPublicKey` returns it; the public key is fetched once per process and kept (it never changes: an
  asymmetric KMS key cannot be rotated).
- `LocalReceiptSigner`: an EC P-256 private key (PEM) in LOCAL_RECEIPT_SIGNING_KEY or a file named by
  LOCAL_RECEIPT_SIGNING_KEY_FILE, for local runs and tests only. Its key id is `local:sha256:<hex>`, the SHA-256
  of its public key (SubjectPublicKeyInfo DER).

Both produce the same thing: an ASN.1 DER ECDSA signature (r, s) over SHA-256 of the message, which
`cryptography`'s `public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))` checks: anyone holding
the public key (`ReceiptPublicKey`, PEM) verifies a receipt offline.

The signers and the public key live in runtime/signing.py (the audit checkpoints are signed the same way); this
module re-exports them. `choose_receipt_signer(environ, environment)` applies the same guards as the keyring
(runtime/wiring/keyring.py): exactly one signer, and the local one only in local/test.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime import settings
from runtime.environment import text
from runtime.errors import ConfigurationError, ReceiptSigningError
from runtime.signing import (
    KEY_SPEC,
    KEY_USAGE,
    LOCAL_KEY_SETTINGS,
    LOCAL_SIGNER_ENVIRONMENTS,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPE,
    SIGNING_ALGORITHM,
    KmsReceiptSigner,
    LocalReceiptSigner,
    ReceiptPublicKey,
    ReceiptSigner,
    fetch_public_key,
    fingerprint,
)
from runtime.wiring.clients import ClientFactory, aws_client

__all__ = [
    "KEY_SPEC",
    "KEY_USAGE",
    "LOCAL_SIGNER_ENVIRONMENTS",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPE",
    "SIGNING_ALGORITHM",
    "KmsReceiptSigner",
    "LocalReceiptSigner",
    "ReceiptPublicKey",
    "ReceiptSigner",
    "ReceiptSignerChoice",
    "ReceiptSigningError",
    "choose_receipt_signer",
    "fetch_public_key",
    "fingerprint",
    "receipt_signer_configured",
    "refuse_unsafe_receipt_signer",
]


@dataclass(frozen=True, slots=True)
class ReceiptSignerChoice:
    """Exactly one of the KMS key and the local key, the local one only where it is allowed."""

    environment: str
    kms_key_id: str | None = None
    local: LocalReceiptSigner | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        refuse_unsafe_receipt_signer(self.environment, kms=bool(self.kms_key_id), local=self.local is not None)

    def signer(self, clients: ClientFactory = aws_client) -> ReceiptSigner:
        if self.kms_key_id:
            return KmsReceiptSigner(clients("kms"), self.kms_key_id)
        assert self.local is not None  # __post_init__: one of the two
        return self.local


def receipt_signer_configured(environ: Mapping[str, str]) -> bool:
    return bool(text(environ, settings.RECEIPT_SIGNING_KEY_ID) or text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY)
                or text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY_FILE))


def choose_receipt_signer(environ: Mapping[str, str], environment: str) -> ReceiptSignerChoice:
    """The signer the settings name, checked before any key is read (no client, no network)."""
    kms_key_id = text(environ, settings.RECEIPT_SIGNING_KEY_ID)
    local = bool(text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY)
                 or text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY_FILE))
    refuse_unsafe_receipt_signer(environment, kms=bool(kms_key_id), local=local)
    if kms_key_id:
        return ReceiptSignerChoice(environment, kms_key_id=kms_key_id)
    return ReceiptSignerChoice(environment, local=LocalReceiptSigner.from_environment(environ))


def refuse_unsafe_receipt_signer(environment: str, *, kms: bool, local: bool) -> None:
    """The guards: one signer, and the local one only in local runs and tests. Raises ConfigurationError."""
    if kms and local:
        raise ConfigurationError(
            f"set {settings.RECEIPT_SIGNING_KEY_ID} (KMS) or a local receipt-signing key ({LOCAL_KEY_SETTINGS}), not "
            "both: receipts are signed by exactly one key; unset the one this environment does not use"
        )
    if not kms and not local:
        raise ConfigurationError(
            f"erasure receipts need a signing key: {settings.RECEIPT_SIGNING_KEY_ID} (the service stack sets it "
            f"on the lifecycle job and the data service), or for a local run or test {LOCAL_KEY_SETTINGS}"
        )
    if local and environment not in LOCAL_SIGNER_ENVIRONMENTS:
        raise ConfigurationError(
            f"the local receipt-signing key is for local runs and tests only ({settings.ENVIRONMENT} "
            f"{' or '.join(LOCAL_SIGNER_ENVIRONMENTS)}); environment {environment!r} must use "
            f"{settings.RECEIPT_SIGNING_KEY_ID} and leave {LOCAL_KEY_SETTINGS} unset"
        )
