"""The keyring interface: make a new data key for an owner, and unwrap a stored one."""

import threading
from abc import ABC, abstractmethod
from typing import Final

from runtime.envelope.keys import KeyMaterial

# Names the use of a data key in every encryption context (KMS logs it in CloudTrail).
PURPOSE: Final = "field-envelope-data-key"


def encryption_context(environment: str, owner: str) -> dict[str, str]:
    """What a wrapped data key is bound to: unwrapping it under another owner or environment fails."""
    return {"environment": environment, "owner": owner, "purpose": PURPOSE}


class Keyring(ABC):
    """Produces and unwraps per-owner data keys. Counts its backend calls (KMS calls, for KMS)."""

    def __init__(self, *, environment: str) -> None:
        if not environment:
            raise ValueError("a keyring needs the environment name (dev, qa, prod, ...)")
        self.environment = environment
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        with self._calls_lock:
            return self._calls

    def _count_call(self) -> None:
        with self._calls_lock:
            self._calls += 1

    @abstractmethod
    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        """A new 256-bit data key for `owner`, and the same key wrapped for storage."""

    @abstractmethod
    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial:
        """The data key inside `wrapped`.

        Raises `DecryptionError` when `wrapped` is not a key this keyring wrapped for `owner`
        in this environment; backend failures raise their own `KeyringError` subclasses.
        """
