"""A breach-response environment on a database of its own (per test module): the roles' pools, the ledger, the
record API, and the procedure wired with recording fakes for the notifier, the alerts and the clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from runtime.audit.chain import ChainKey
from runtime.breach.directory import PostgresUserDirectory
from runtime.breach.notifiers import Outgoing
from runtime.breach.outbox import RetryPolicy
from runtime.breach.response import BreachResponse
from runtime.breach.store import PostgresIncidentStore
from runtime.breach.trail import PostgresTrail
from runtime.db import Database, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, JOBS_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.errors import NotificationError
from tests.support.platform_db import PlatformDatabase, copy_of


@dataclass
class BreachDb:
    db: PlatformDatabase
    app: ConnectionPool
    jobs: ConnectionPool
    keys: ConnectionPool
    ledger: AuditLedger
    records: Records
    chain_key: ChainKey

    @property
    def app_database(self) -> Database:
        return Database(self.app, self.ledger)

    @property
    def jobs_database(self) -> Database:
        return Database(self.jobs, self.ledger)


@pytest.fixture(scope="module")
def breach_db(template_db: PlatformDatabase, chain_key: ChainKey) -> Iterator[BreachDb]:
    db = copy_of(template_db, f"breach_{uuid.uuid4().hex[:10]}")
    app = open_pool(db.settings(APP_ROLE, pool_max_size=4), db.password(APP_ROLE), name="breach-app")
    jobs = open_pool(db.settings(JOBS_ROLE, pool_max_size=4), db.password(JOBS_ROLE), name="breach-jobs")
    keys = open_pool(db.settings(APP_ROLE, pool_max_size=2), db.password(APP_ROLE), name="breach-keys")
    cipher = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"),
                            store=PostgresWrappedKeyStore(keys))
    # Checkpoints every 50 events, so the window verification has anchors to start from.
    yield BreachDb(db, app, jobs, keys, AuditLedger(), Records(cipher), chain_key)
    for pool in (app, jobs, keys):
        pool.close()


class RecordingNotifier:
    """Remembers every send; fails the first `fail_first` attempts of each notification when asked."""

    def __init__(self, *, fail_first: int = 0, retryable: bool = True, code: str = "Throttling") -> None:
        self.sent: list[Outgoing] = []
        self.attempts: dict[str, int] = {}
        self.fail_first, self.retryable, self.code = fail_first, retryable, code

    def send(self, outgoing: Outgoing) -> str:
        key = outgoing.idempotency_key
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] <= self.fail_first:
            raise NotificationError("provider failed", code=self.code, retryable=self.retryable)
        self.sent.append(outgoing)
        return f"msg-{len(self.sent)}"


@dataclass
class RecordingAlerts:
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def alert(self, subject: str, text: str) -> None:
        self.alerts.append((subject, text))


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Responder:
    response: BreachResponse
    notifier: RecordingNotifier
    alerts: RecordingAlerts
    clock: FakeClock
    store: PostgresIncidentStore


@pytest.fixture
def make_responder(breach_db: BreachDb) -> Iterator[Callable[..., Responder]]:
    """A BreachResponse on `breach_db` with a recording notifier and alerts and a fake clock."""

    conns: list[Any] = []

    def make(notifier: RecordingNotifier | None = None, *, alerts: bool = True,
             policy: RetryPolicy | None = None) -> Responder:
        notifier = notifier or RecordingNotifier()
        recorded = RecordingAlerts()
        clock = FakeClock()
        conn = breach_db.jobs.getconn()
        conns.append(conn)
        store = PostgresIncidentStore(breach_db.jobs)
        response = BreachResponse(
            store=store,
            trail=PostgresTrail(conn),
            directory=PostgresUserDirectory(breach_db.jobs, breach_db.jobs_database, breach_db.records),
            notifier=notifier,
            key=breach_db.chain_key,
            contact="security@operator.example",
            alerts=recorded if alerts else None,
            clock=clock,
            sleep=clock.sleep,
            policy=policy,
        )
        return Responder(response, notifier, recorded, clock, store)

    yield make
    for conn in conns:
        breach_db.jobs.putconn(conn)
