"""Where wrapped data keys live. Deleting an owner's keys crypto-shreds its data (P10).

Only wrapped keys are ever stored. The in-memory store serves development and tests;
`runtime.db.key_store.PostgresWrappedKeyStore` implements the same interface in the database.
"""

import threading
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: bytes
    wrapped: bytes = field(repr=False)


class WrappedKeyStore(Protocol):
    def current(self, owner: str) -> StoredKey | None:
        """The key new values of `owner` are encrypted under, if it has one."""
        ...

    def get(self, owner: str, key_id: bytes) -> StoredKey | None: ...

    def add(self, owner: str, key: StoredKey) -> StoredKey:
        """Store `key` as the owner's current key unless it already has one; return the current key.

        Two writers racing for a new owner both get the winner's key back.
        """
        ...

    def delete_owner(self, owner: str) -> int:
        """Delete every key of `owner`; return how many were deleted."""
        ...


class InMemoryWrappedKeyStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, dict[bytes, StoredKey]] = {}
        self._current: dict[str, bytes] = {}

    def current(self, owner: str) -> StoredKey | None:
        with self._lock:
            key_id = self._current.get(owner)
            return None if key_id is None else self._keys[owner][key_id]

    def get(self, owner: str, key_id: bytes) -> StoredKey | None:
        with self._lock:
            return self._keys.get(owner, {}).get(key_id)

    def add(self, owner: str, key: StoredKey) -> StoredKey:
        with self._lock:
            existing = self._current.get(owner)
            if existing is not None:
                return self._keys[owner][existing]
            self._keys.setdefault(owner, {})[key.key_id] = key
            self._current[owner] = key.key_id
            return key

    def delete_owner(self, owner: str) -> int:
        with self._lock:
            self._current.pop(owner, None)
            return len(self._keys.pop(owner, {}))
