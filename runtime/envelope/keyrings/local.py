"""A keyring for development and tests: data keys wrapped by a local 256-bit master key.

The master key comes from an environment variable or a file (base64, or 32 raw bytes in a file).
Never use it in qa or prod: there, data keys are wrapped by the environment's KMS key.
"""

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runtime import settings
from runtime.envelope.keyrings.base import Keyring, encryption_context
from runtime.envelope.keys import KEY_BYTES, KeyMaterial
from runtime.errors import ConfigurationError, DecryptionError

_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
_HOW_TO_MAKE_ONE = (
    "make one with: python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"
)


def _context_bytes(environment: str, owner: str) -> bytes:
    return json.dumps(encryption_context(environment, owner), sort_keys=True).encode()


class LocalKeyring(Keyring):
    def __init__(self, master_key: KeyMaterial, *, environment: str) -> None:
        super().__init__(environment=environment)
        self._aead = AESGCM(master_key.secret_bytes())

    def __repr__(self) -> str:
        return f"LocalKeyring(environment={self.environment!r}, master_key=<redacted>)"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], *, environment: str) -> "LocalKeyring":
        """Read the master key from `PLATFORM_LOCAL_MASTER_KEY` or the file `PLATFORM_LOCAL_MASTER_KEY_FILE`."""
        inline = environ.get(settings.LOCAL_MASTER_KEY)
        path = environ.get(settings.LOCAL_MASTER_KEY_FILE)
        if inline and path:
            raise ConfigurationError(
                f"set {settings.LOCAL_MASTER_KEY} or {settings.LOCAL_MASTER_KEY_FILE}, not both"
            )
        if inline:
            return cls(_decode_base64_key(inline, settings.LOCAL_MASTER_KEY), environment=environment)
        if path:
            return cls.from_file(Path(path), environment=environment)
        raise ConfigurationError(
            f"the local keyring needs {settings.LOCAL_MASTER_KEY} (base64 of 32 bytes) or "
            f"{settings.LOCAL_MASTER_KEY_FILE}; {_HOW_TO_MAKE_ONE}"
        )

    @classmethod
    def from_file(cls, path: Path, *, environment: str) -> "LocalKeyring":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the local master key file {path}: {exc.strerror}") from None
        if len(raw) == KEY_BYTES:
            return cls(KeyMaterial(raw), environment=environment)
        return cls(_decode_base64_key(raw.decode("ascii", "replace").strip(), str(path)), environment=environment)

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        self._count_call()
        material = KeyMaterial(os.urandom(KEY_BYTES))
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, material.secret_bytes(), _context_bytes(self.environment, owner))
        return material, _WRAP_VERSION + nonce + sealed

    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial:
        self._count_call()
        if not wrapped.startswith(_WRAP_VERSION):
            raise DecryptionError()
        nonce, sealed = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]
        try:
            secret = self._aead.decrypt(nonce, sealed, _context_bytes(self.environment, owner))
            return KeyMaterial(secret)
        except (InvalidTag, ValueError):
            raise DecryptionError() from None


def _decode_base64_key(text: str, source: str) -> KeyMaterial:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        # Never echo the value: it may be a real key with a typo.
        raise ConfigurationError(f"{source} must hold exactly 32 bytes, base64-encoded; {_HOW_TO_MAKE_ONE}")
    return KeyMaterial(raw)
