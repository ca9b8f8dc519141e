"""Which key wraps each organisation's data keys (`platform.organisation_keys`, migration 0011; issue 15).

NOT_SENSITIVE bookkeeping: the organisation id, 'platform' or 'customer' (BYOK, with the key's ARN), 'pending'
(a registration waiting for `org provision-keys --pending`) or 'active'. The owner API records a pending
registration and looks up a customer key; the control-plane job lists (through the support view: ids, sources
and states only) and activates. Writes run inside the caller's owner-bound transaction, which audits them.
"""

import uuid
from dataclasses import dataclass
from typing import Final

from runtime.audit.events import Action
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.session import OwnerTransaction, bind_owner, parse_id

PLATFORM: Final = "platform"
CUSTOMER: Final = "customer"
PENDING: Final = "pending"
ACTIVE: Final = "active"

_RECORD_PENDING = ("INSERT INTO platform.organisation_keys (owner_id, source, state) VALUES (%s, 'platform', "
                   "'pending') ON CONFLICT (owner_id) DO NOTHING")
_ACTIVATE = """
INSERT INTO platform.organisation_keys (owner_id, source, state, key_arn, activated_at)
VALUES (%s, %s, 'active', %s, clock_timestamp())
ON CONFLICT (owner_id) DO UPDATE SET source = EXCLUDED.source, state = 'active', key_arn = EXCLUDED.key_arn,
    activated_at = EXCLUDED.activated_at
"""
_CUSTOMER_KEY = "SELECT key_arn FROM platform.organisation_keys WHERE source = 'customer' AND state = 'active'"
_LIST = ("SELECT owner_id, source, state, key_arn FROM support.organisation_keys WHERE (%(source)s::text IS NULL "
         "OR source = %(source)s) AND (%(state)s::text IS NULL OR state = %(state)s) ORDER BY requested_at, owner_id")


@dataclass(frozen=True, slots=True)
class OrganisationKeyRecord:
    owner_id: uuid.UUID
    source: str
    state: str
    key_arn: str | None


def record_pending(tx: OwnerTransaction) -> None:
    """A registration that found no key yet: `org provision-keys --pending` will create it. Idempotent."""
    if tx.connection.execute(_RECORD_PENDING, (tx.owner_id,)).rowcount:
        tx.record(Action.WRITE, "organisation_keys", ())


def activate(tx: OwnerTransaction, *, source: str, key_arn: str | None = None) -> None:
    """The organisation's key exists (platform) or was registered (customer): record it, audited."""
    tx.connection.execute(_ACTIVATE, (tx.owner_id, source, key_arn))
    tx.record(Action.WRITE, "organisation_keys", ())


def list_organisations(connections: ConnectionSource, *, source: str | None = None,
                       state: str | None = None) -> list[OrganisationKeyRecord]:
    """Every organisation on record (optionally one source and state), oldest request first; no data read."""
    with translated(), connections.connection() as conn, conn.transaction():
        rows = conn.execute(_LIST, {"source": source, "state": state}).fetchall()
    return [OrganisationKeyRecord(r[0], r[1], r[2], r[3]) for r in rows]


class PostgresCustomerKeys:
    """The keyrings' look-up of an organisation's own key (BYOK): its ARN, or None (the platform key). One short
    owner-bound query on its own pool (the key store's), only when the data-key cache misses."""

    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    def __repr__(self) -> str:
        return "PostgresCustomerKeys()"

    def __call__(self, owner: str) -> str | None:
        owner_id = parse_id(owner, "owner")
        with translated(), self._connections.connection() as conn, conn.transaction():
            bind_owner(conn, owner_id)
            row = conn.execute(_CUSTOMER_KEY).fetchone()
        return None if row is None else str(row[0])
