"""Which key wraps each organisation's data keys (`platform.organisation_keys`, migration 0011; issue 15).

NOT_SENSITIVE bookkeeping: the organisation id, 'platform' or 'customer' (BYOK, with the key's ARN), 'pending'
(a registration waiting for `org provision-keys --pending`) or 'active'. The owner API records a pending
registration and looks up a customer key; the control-plane job lists (through the support view: ids, sources
and states only) and activates. Writes run inside the caller's owner-bound transaction, which audits them.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from runtime.audit.events import Action
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.session import Database, OwnerScope, OwnerTransaction, bind_owner, parse_id

PLATFORM: Final = "platform"
CUSTOMER: Final = "customer"
PENDING: Final = "pending"
ACTIVE: Final = "active"

_RECORD_PENDING = ("INSERT INTO platform.organisation_keys (owner_id, source, state) VALUES (%s, 'platform', "
                   "'pending') ON CONFLICT (owner_id) DO NOTHING")
_RECORD_REGISTERED = ("INSERT INTO platform.organisation_keys (owner_id, source, state, activated_at) VALUES (%s, "
                      "'platform', 'active', clock_timestamp()) ON CONFLICT (owner_id) DO NOTHING")
_ACTIVATE = """
INSERT INTO platform.organisation_keys (owner_id, source, state, key_arn, activated_at)
VALUES (%s, %s, 'active', %s, clock_timestamp())
ON CONFLICT (owner_id) DO UPDATE SET source = EXCLUDED.source, state = 'active', key_arn = EXCLUDED.key_arn,
    activated_at = EXCLUDED.activated_at
"""
_REQUEST_CUSTOMER_KEY = """
INSERT INTO platform.organisation_keys (owner_id, source, state, key_arn) VALUES (%s, 'customer', 'pending', %s)
ON CONFLICT (owner_id) DO UPDATE SET source = 'customer', state = 'pending', key_arn = EXCLUDED.key_arn,
    requested_at = clock_timestamp(), activated_at = NULL
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


def record_registered(tx: OwnerTransaction) -> None:
    """A registration that found its key (provisioned beforehand, or the environment's shared key): listed from
    now on (`org migrate-keys --all`) unless a row says more already (pending, or its own key). Idempotent."""
    if tx.connection.execute(_RECORD_REGISTERED, (tx.owner_id,)).rowcount:
        tx.record(Action.WRITE, "organisation_keys", ())


def request_customer_key(tx: OwnerTransaction, key_arn: str) -> None:
    """The organisation's own key, checked by the data service, waits for the control plane's own check
    (`org provision-keys --pending`), which activates it. Audited."""
    tx.connection.execute(_REQUEST_CUSTOMER_KEY, (tx.owner_id, key_arn))
    tx.record(Action.WRITE, "organisation_keys", ())


def activate(tx: OwnerTransaction, *, source: str, key_arn: str | None = None) -> None:
    """The organisation's key exists (platform) or was registered (customer): record it, audited."""
    tx.connection.execute(_ACTIVATE, (tx.owner_id, source, key_arn))
    tx.record(Action.WRITE, "organisation_keys", ())


def own_record(tx: OwnerTransaction) -> OrganisationKeyRecord | None:
    """The bound organisation's own row (its source, state and key ARN), or None."""
    row = tx.connection.execute("SELECT owner_id, source, state, key_arn FROM platform.organisation_keys"
                                ).fetchone()
    return None if row is None else OrganisationKeyRecord(row[0], row[1], row[2], row[3])


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


# Who records what the service itself observed (not a user's request): a fixed pseudonymous id.
SERVICE_ACTOR: Final = uuid.UUID("00000000-0000-4000-8000-0000000005e7")


class KeyUnavailableAudit:
    """The data service's `on_key_unavailable` (runtime.envelope.EnvelopeCipher): when an organisation's key is
    found unusable (a customer disabled or revoked its key, or it is being destroyed), one audit ledger event for
    that organisation (a read of organisation_keys that returned nothing; request id `orgkey-<hex>`), at most
    once per `interval_seconds` per organisation, so an outage does not flood the ledger."""

    def __init__(self, database: Database, *, interval_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._database, self._interval, self._clock = database, interval_seconds, clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, owner: str, code: str | None) -> None:
        now = self._clock()
        with self._lock:
            last = self._last.get(owner)
            if last is not None and now - last < self._interval:
                return
            self._last[owner] = now
        principal = OwnerScope(parse_id(owner, "owner"), SERVICE_ACTOR, f"orgkey-{uuid.uuid4().hex[:8]}")
        with translated(), self._database.owner_transaction(principal) as tx:
            tx.record(Action.READ, "organisation_keys", (), row_count=0)
