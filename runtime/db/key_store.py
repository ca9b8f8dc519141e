"""The envelope's wrapped data keys in Postgres (`platform.data_keys`), owner-scoped by RLS.

Implements runtime.envelope.WrappedKeyStore. Each call runs in its own short owner-bound transaction
on a connection from `connections`; give it a small pool of its own, not the request pool, so a
cache miss inside a request never waits for a connection that request is holding. The cipher's
cache keeps these calls rare (about one per owner per cache period).
"""

from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.session import bind_owner, parse_id
from runtime.envelope import StoredKey

_CURRENT = "SELECT key_id, wrapped_key FROM platform.data_keys ORDER BY created_at, key_id LIMIT 1"
_GET = "SELECT key_id, wrapped_key FROM platform.data_keys WHERE key_id = %s"
_LOCK_OWNER = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_ADD = "INSERT INTO platform.data_keys (owner_id, key_id, wrapped_key) VALUES (%s, %s, %s)"
_DELETE = "DELETE FROM platform.data_keys"


class PostgresWrappedKeyStore:
    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    def __repr__(self) -> str:
        return "PostgresWrappedKeyStore()"

    def current(self, owner: str) -> StoredKey | None:
        return self._one(owner, _CURRENT, ())

    def get(self, owner: str, key_id: bytes) -> StoredKey | None:
        return self._one(owner, _GET, (key_id,))

    def add(self, owner: str, key: StoredKey) -> StoredKey:
        owner_id = parse_id(owner, "owner")
        with translated(), self._connections.connection() as conn, conn.transaction():
            bind_owner(conn, owner_id)
            # Two writers creating the first key of one owner: the second waits, then finds the first's.
            conn.execute(_LOCK_OWNER, (f"data_keys:{owner_id}",))
            row = conn.execute(_CURRENT).fetchone()
            if row is not None:
                return StoredKey(bytes(row[0]), bytes(row[1]))
            conn.execute(_ADD, (owner_id, key.key_id, key.wrapped))
            return key

    def delete_owner(self, owner: str) -> int:
        owner_id = parse_id(owner, "owner")
        with translated(), self._connections.connection() as conn, conn.transaction():
            bind_owner(conn, owner_id)
            return conn.execute(_DELETE).rowcount

    def _one(self, owner: str, query: str, params: tuple[bytes, ...]) -> StoredKey | None:
        owner_id = parse_id(owner, "owner")
        with translated(), self._connections.connection() as conn, conn.transaction():
            bind_owner(conn, owner_id)
            row = conn.execute(query, params).fetchone()
        return None if row is None else StoredKey(bytes(row[0]), bytes(row[1]))
