"""ECDSA P-256 signing with the environment's asymmetric KMS key, or a local key in local runs and tests, and the
public key that verifies what they sign: erasure receipts (P10, runtime/lifecycle/receipt_signing.py) and the audit
chain's checkpoints (P14, runtime/db/sequencer.py) are signed this way.

- `KmsReceiptSigner`: a KMS key (KeySpec ECC_NIST_P256, KeyUsage SIGN_VERIFY), `kms:Sign` with SigningAlgorithm
  ECDSA_SHA_256 and MessageType RAW: KMS hashes the message (SHA-256) itself, so what is signed is exactly the
  given bytes, at most 4096 (KMS's limit for RAW messages). The key id is the key's ARN, as `kms:GetPublicKey`
  returns it; the public key is fetched once per process and kept (an asymmetric KMS key cannot be rotated).
- `LocalReceiptSigner`: an EC P-256 private key (PEM), for local runs and tests only. Its key id is
  `local:sha256:<hex>`, the SHA-256 of its public key (SubjectPublicKeyInfo DER).

Both produce an ASN.1 DER ECDSA signature (r, s) over SHA-256 of the message, which `cryptography`'s
`public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))` checks offline. (The names say "receipt":
receipts were signed first.) Imports no AWS SDK: the KMS client is injected.
"""

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runtime import settings
from runtime.environment import text
from runtime.errors import ConfigurationError, ReceiptError, ReceiptSigningError

KEY_SPEC: Final = "ECC_NIST_P256"
KEY_USAGE: Final = "SIGN_VERIFY"
SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"
MESSAGE_TYPE: Final = "RAW"
MAX_MESSAGE_BYTES: Final = 4096  # kms:Sign's limit for a RAW message
LOCAL_SIGNER_ENVIRONMENTS: Final = ("local", "test")
LOCAL_KEY_ID_PREFIX: Final = "local:sha256:"
LOCAL_KEY_SETTINGS: Final = f"{settings.LOCAL_RECEIPT_SIGNING_KEY} / {settings.LOCAL_RECEIPT_SIGNING_KEY_FILE}"
_NOT_P256: Final = f"the local receipt-signing key ({LOCAL_KEY_SETTINGS}) must be an EC P-256 private key"


@dataclass(frozen=True, slots=True)
class ReceiptPublicKey:
    """The public half of a receipt-signing key, with the key id receipts signed by it name."""

    key_id: str
    key: ec.EllipticCurvePublicKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, ec.EllipticCurvePublicKey) or not isinstance(self.key.curve, ec.SECP256R1):
            raise ReceiptError("a receipt-signing public key must be an EC P-256 (secp256r1) key")

    @classmethod
    def from_pem(cls, pem: bytes | str, key_id: str = "") -> "ReceiptPublicKey":
        """A PEM public key (`-----BEGIN PUBLIC KEY-----`, as the public-key route and `openssl ec -pubout` give
        it). Without `key_id`, the key is named by its fingerprint."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise ReceiptError("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)") from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ReceiptError("the public key is not an EC key: receipts are signed with ECDSA on P-256")
        return cls(key_id or fingerprint(key), key)

    @classmethod
    def from_der(cls, der: bytes, key_id: str) -> "ReceiptPublicKey":
        """SubjectPublicKeyInfo DER, as `kms:GetPublicKey` returns it."""
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError):
            raise ReceiptSigningError("KMS returned a public key that does not parse") from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ReceiptSigningError(f"{key_id} is not an EC key: receipts are signed with {KEY_SPEC}")
        return cls(key_id, key)

    @property
    def pem(self) -> str:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return LOCAL_KEY_ID_PREFIX + hashlib.sha256(der).hexdigest()


class ReceiptSigner(Protocol):
    """Signs receipts: `sign(message)` is an ASN.1 DER ECDSA P-256 / SHA-256 signature over `message`."""

    @property
    def key_id(self) -> str:
        """The id receipts name (the KMS key ARN, or the local key's fingerprint)."""
        ...

    def sign(self, message: bytes) -> bytes: ...

    def public_key(self) -> ReceiptPublicKey: ...


def _check_size(message: bytes) -> None:
    if len(message) > MAX_MESSAGE_BYTES:
        raise ReceiptSigningError(f"the receipt is {len(message)} bytes; kms:Sign takes at most {MAX_MESSAGE_BYTES}")


class KmsReceiptSigner:
    """The environment's KMS signing key. `client`: a boto3 KMS client (runtime.wiring.clients builds it)."""

    def __init__(self, client: Any, key_id: str) -> None:
        if not key_id.strip():
            raise ConfigurationError(f"{settings.RECEIPT_SIGNING_KEY_ID} is empty")
        self._client = client
        self._configured = key_id.strip()
        self._public: ReceiptPublicKey | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KmsReceiptSigner({self._configured!r})"

    @property
    def key_id(self) -> str:
        return self.public_key().key_id

    def public_key(self) -> ReceiptPublicKey:
        """Fetched once (kms:GetPublicKey), checked to be an ECC_NIST_P256 SIGN_VERIFY key, then kept."""
        with self._lock:
            if self._public is None:
                self._public = fetch_public_key(self._client, self._configured)
            return self._public

    def sign(self, message: bytes) -> bytes:
        _check_size(message)
        key_id = self.key_id
        try:
            answer = self._client.sign(KeyId=key_id, Message=message, MessageType=MESSAGE_TYPE,
                                       SigningAlgorithm=SIGNING_ALGORITHM)
        except Exception as exc:  # botocore's ClientError, endpoint and credential errors: one typed error
            raise ReceiptSigningError(f"kms:Sign with {key_id} failed: {_aws_reason(exc)}") from None
        signature = answer.get("Signature")
        if not isinstance(signature, bytes | bytearray) or not signature:
            raise ReceiptSigningError(f"kms:Sign with {key_id} returned no signature")
        return bytes(signature)


def fetch_public_key(client: Any, key_id: str) -> ReceiptPublicKey:
    """kms:GetPublicKey of `key_id` (ARN, id or alias), checked to be a receipt-signing key."""
    try:
        answer = client.get_public_key(KeyId=key_id)
    except Exception as exc:  # botocore's ClientError, endpoint and credential errors: one typed error
        raise ReceiptSigningError(f"kms:GetPublicKey of {key_id} failed: {_aws_reason(exc)}") from None
    # KMS answers the key's ARN; a stand-in may answer the bare key id, then the configured ARN names the key.
    answered = str(answer.get("KeyId") or key_id)
    arn = key_id if not answered.startswith("arn:") and ":key/" in key_id else answered
    spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
    usage = answer.get("KeyUsage")
    algorithms = answer.get("SigningAlgorithms") or []
    if spec != KEY_SPEC or usage != KEY_USAGE or SIGNING_ALGORITHM not in algorithms:
        raise ReceiptSigningError(f"{arn} is a {spec} {usage} key; receipts need a {KEY_SPEC} {KEY_USAGE} key "
                                  f"that supports {SIGNING_ALGORITHM}")
    return ReceiptPublicKey.from_der(bytes(answer["PublicKey"]), arn)


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__


class LocalReceiptSigner:
    """An EC P-256 private key held by this process: local runs and tests only (see choose_receipt_signer)."""

    __slots__ = ("_key", "_public")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or \
                not isinstance(private_key.curve, ec.SECP256R1):
            raise ConfigurationError(_NOT_P256)
        self._key = private_key
        public = private_key.public_key()
        self._public = ReceiptPublicKey(fingerprint(public), public)

    @classmethod
    def generate(cls) -> "LocalReceiptSigner":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes) -> "LocalReceiptSigner":
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise ConfigurationError(f"the local receipt-signing key ({LOCAL_KEY_SETTINGS}) is not an unencrypted PEM "
                                     "private key (openssl ecparam -name prime256v1 -genkey -noout)") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(_NOT_P256)
        return cls(key)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "LocalReceiptSigner":
        inline = text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY)
        path = text(environ, settings.LOCAL_RECEIPT_SIGNING_KEY_FILE)
        if inline and path:
            raise ConfigurationError(f"set {settings.LOCAL_RECEIPT_SIGNING_KEY} or "
                                     f"{settings.LOCAL_RECEIPT_SIGNING_KEY_FILE}, not both")
        if path:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"{settings.LOCAL_RECEIPT_SIGNING_KEY_FILE}: cannot read {path} "
                                         f"({exc.strerror})") from None
            return cls.from_pem(data)
        if not inline:
            raise ConfigurationError(f"no local receipt-signing key: set {LOCAL_KEY_SETTINGS}")
        return cls.from_pem(inline.encode())

    def private_pem(self) -> bytes:
        """The key as PKCS#8 PEM (tests and `make dev` write it to the variable or file)."""
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    @property
    def key_id(self) -> str:
        return self._public.key_id

    def public_key(self) -> ReceiptPublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        _check_size(message)  # the same limit as KMS, so a local run fails where a deployed one would
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:
        return f"LocalReceiptSigner({self.key_id})"

    def __reduce__(self) -> Any:
        raise TypeError("the receipt-signing key cannot be pickled")


