"""Synthetic organisations, users and audit trails for drills, tests and benchmarks (P12).

Organisations and users are written through the record API (encrypted, audited) like real ones; their
addresses are under `.invalid` (RFC 2606), which no mail system delivers. Access events go straight into the
ledger, so a drill can stage "an attacker read these organisations' data" at known times.
"""

import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg

from runtime.audit.events import AccessEvent, Action
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.ledger import AuditLedger
from runtime.db.records import Records
from runtime.db.session import Database, OwnerScope

Connection = psycopg.Connection[Any]
DRILL_DOMAIN: Final = "drill.invalid"
SEED_ACTOR: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:platform:drill:seed")
DATA_TABLES: Final = ("prompts", "model_calls", "datasets")


@dataclass(frozen=True, slots=True)
class SyntheticOrganisation:
    owner_id: uuid.UUID
    user_ids: tuple[uuid.UUID, ...]
    addresses: dict[uuid.UUID, str] = field(repr=False)
    rows: dict[str, tuple[uuid.UUID, ...]] = field(default_factory=dict)


def seed_organisations(database: Database, records: Records, *, count: int, users_per_organisation: int,
                       tag: str) -> list[SyntheticOrganisation]:
    """`count` organisations with users and a few rows in the data tables, one owner transaction each."""
    made: list[SyntheticOrganisation] = []
    for n in range(count):
        owner = uuid.uuid4()
        with database.owner_transaction(OwnerScope(owner, SEED_ACTOR, f"drill-seed-{tag}-{n}")) as tx:
            records.insert(tx, "organisations", [{"name": f"Drill organisation {n}".encode()}])
            emails = [f"user{n}.{i}@{tag}.{DRILL_DOMAIN}" for i in range(users_per_organisation)]
            users = records.insert(tx, "users", [{"email": e.encode(), "display_name": b"Drill user"}
                                                 for e in emails])
            rows = {"prompts": tuple(records.insert(tx, "prompts", [{"body": b"Summarise {text}"}]))}
        made.append(SyntheticOrganisation(owner, tuple(users), dict(zip(users, emails, strict=True)), rows))
    return made


def database_now(conn: Connection) -> datetime:
    with translated():
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    at: datetime = row[0]
    return at


@contextmanager
def bracket(connections: ConnectionSource) -> Iterator[list[datetime]]:
    """Times on the database's clock just before and just after the block: events appended inside it have
    `at` within [times[0], times[1])."""
    times: list[datetime] = []
    with connections.connection() as conn:
        times.append(database_now(conn))
        yield times
        times.append(database_now(conn))


def append_events(connections: ConnectionSource, ledger: AuditLedger, events: Sequence[AccessEvent]) -> int:
    """Chain `events` into the ledger in one transaction (they share one time); return the head position."""
    with translated(), connections.connection() as conn, conn.transaction():
        return ledger.append(conn, events)


def attacker_reads(organisations: Sequence[SyntheticOrganisation], attacker: uuid.UUID, *, request: str,
                   rng: random.Random) -> list[AccessEvent]:
    """What an attacker's reads look like in the ledger: each organisation's prompts, and for half of them
    one user's account row."""
    events: list[AccessEvent] = []
    for org in organisations:
        events.append(AccessEvent(attacker, org.owner_id, Action.READ, "prompts", org.rows["prompts"], request))
        if rng.random() < 0.5 and org.user_ids:
            events.append(AccessEvent(attacker, org.owner_id, Action.READ, "users", (rng.choice(org.user_ids),),
                                      request))
    return events


def background_activity(organisations: Sequence[SyntheticOrganisation], *, actors: Sequence[uuid.UUID],
                        request: str, rng: random.Random, per_organisation: int = 2) -> list[AccessEvent]:
    """Ordinary owners' traffic: reads and writes by their own actors (not in the breach's scope by actor)."""
    events: list[AccessEvent] = []
    for org in organisations:
        for _ in range(per_organisation):
            table = rng.choice(DATA_TABLES)
            events.append(AccessEvent(rng.choice(actors), org.owner_id, rng.choice([Action.READ, Action.WRITE]),
                                      table, (uuid.uuid4(),), request))
    return events
