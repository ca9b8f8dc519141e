"""Who the impacted users are, and where to reach them (P3, P12, P14).

`users_of` lists the user ids of impacted organisations: ids only (NOT_SENSITIVE), owner-bound under
row-level security, in one transaction with one round trip for all of them (pipeline mode).
`addresses` reads and decrypts the email addresses of the users about to be notified, through the record
API in an owner transaction, so each read is audited, under the breach job's own actor id.
"""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

import psycopg

from runtime.breach.impact import USERS_TABLE
from runtime.classification import Sensitive
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.records import Records
from runtime.db.session import Database, OwnerScope, bind_owner

Connection = psycopg.Connection[Any]
# The breach job's pseudonymous actor id, as it appears in the audit ledger.
BREACH_ACTOR: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:platform:job:breach-response")
_USER_IDS: Final = "SELECT id FROM platform.users"
_CHUNK: Final = 2000


def request_id(incident_id: uuid.UUID) -> str:
    """The incident id itself: the ledger's request id for the job's reads (the actor id says who read)."""
    return str(incident_id)


class PostgresUserDirectory:
    def __init__(self, connections: ConnectionSource, database: Database, records: Records) -> None:
        self._connections = connections
        self._database = database
        self._records = records

    def users_of(self, owners: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        ordered = sorted(set(owners))
        found: dict[uuid.UUID, list[uuid.UUID]] = {}
        with translated(), self._connections.connection() as conn:
            for at in range(0, len(ordered), _CHUNK):
                chunk = ordered[at : at + _CHUNK]
                with conn.transaction():
                    with conn.pipeline():
                        cursors = []
                        for owner in chunk:
                            bind_owner(conn, owner)
                            cursors.append(conn.execute(_USER_IDS))
                    for owner, cursor in zip(chunk, cursors, strict=True):
                        found[owner] = [row[0] for row in cursor.fetchall()]
        return found

    def addresses(self, incident_id: uuid.UUID, owner_id: uuid.UUID,
                  user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Sensitive[str]]:
        principal = OwnerScope(owner_id, BREACH_ACTOR, request_id(incident_id))
        with self._database.owner_transaction(principal) as tx:
            rows = self._records.get(tx, USERS_TABLE, list(user_ids))
        out: dict[uuid.UUID, Sensitive[str]] = {}
        for row in rows:
            email = row.values.get("email")
            if email is not None:
                out[row.id] = Sensitive(email.reveal().decode("utf-8"))
        return out
