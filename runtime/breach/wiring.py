"""Adapters for the breach commands, from the container environment (runtime/settings.py names). AWS clients
come from `clients(service)` (runtime.wiring.clients), called only when a command needs one; nothing is built at
import time. The keyring is chosen, with every entry point's guards (runtime.wiring.keyring), before any
connection is opened.

The job runs as the jobs role (PLATFORM_DATABASE_USER=platform_jobs): it reads the ledger through support.*,
the users' ids and addresses owner-bound (audited), and writes the incident tables. A drill also logs in as the
drill role (platform_drill) for its scratch database; nothing here reads the master secret.
"""

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from psycopg_pool import ConnectionPool

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment
from runtime.breach.aws import SesNotifier, SnsIncidentTopic
from runtime.breach.directory import PostgresUserDirectory
from runtime.breach.notifiers import FileNotifier, IncidentAlerts, Notifier, PrintedAlerts
from runtime.breach.response import BreachResponse
from runtime.breach.scratch import PostgresScratchDatabases
from runtime.breach.store import PostgresIncidentStore
from runtime.breach.trail import Connection, PostgresTrail
from runtime.db.config import DatabaseSettings
from runtime.db.connect import connect, open_pool
from runtime.db.credentials import PasswordSource
from runtime.db.key_store import PostgresWrappedKeyStore
from runtime.db.ledger import AuditLedger
from runtime.db.records import Records
from runtime.db.schema import DRILL_ROLE
from runtime.db.session import Database
from runtime.envelope import EnvelopeCipher
from runtime.errors import NotifierConfigurationError
from runtime.wiring import audit_trail
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.keyring import KeyringChoice, choose_keyring
from runtime.wiring.passwords import password_source


def notifier_from_environment(environ: Mapping[str, str], clients: ClientFactory) -> Notifier:
    kind = environ.get(settings.BREACH_NOTIFIER, "").strip().lower()
    sender = environ.get(settings.BREACH_SENDER, "").strip()
    if kind == "file":
        directory = environ.get(settings.BREACH_NOTIFIER_DIR, "").strip()
        if not directory:
            raise NotifierConfigurationError(f"{settings.BREACH_NOTIFIER}=file needs {settings.BREACH_NOTIFIER_DIR}")
        return FileNotifier(Path(directory))
    if kind in ("", "ses"):
        if not sender:
            raise NotifierConfigurationError(
                f"no way to notify users: set {settings.BREACH_SENDER} (a verified SES address), or "
                f"{settings.BREACH_NOTIFIER}=file and {settings.BREACH_NOTIFIER_DIR}"
            )
        return SesNotifier(clients("sesv2"), sender=sender)
    raise NotifierConfigurationError(f"{settings.BREACH_NOTIFIER} must be ses or file")


def alerts_from_environment(environ: Mapping[str, str], clients: ClientFactory) -> IncidentAlerts:
    topic = environ.get(settings.INCIDENT_TOPIC_ARN, "").strip()
    if topic:
        return SnsIncidentTopic(clients("sns"), topic_arn=topic)
    return PrintedAlerts(sys.stderr.write)


@dataclass
class BreachWiring:
    """The breach job's adapters; `close()` releases the pools."""

    environ: Mapping[str, str] = field(repr=False)
    clients: ClientFactory = field(repr=False)
    database: DatabaseSettings
    passwords: PasswordSource | None = field(repr=False)
    key: ChainKey = field(repr=False)
    keyring: KeyringChoice
    pool: ConnectionPool = field(repr=False)
    key_pool: ConnectionPool = field(repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], clients: ClientFactory = aws_client) -> "BreachWiring":
        db = DatabaseSettings.from_environment(environ)
        passwords = password_source(db, clients)
        key = chain_key_from_environment(environ)
        keyring = choose_keyring(environ)
        pool = open_pool(replace(db, pool_min_size=1, pool_max_size=4), passwords, name="breach")
        key_pool = open_pool(replace(db, pool_min_size=1, pool_max_size=2), passwords, name="breach-keys")
        return cls(environ, clients, db, passwords, key, keyring, pool, key_pool)

    def response(self, trail_connection: Connection, *, notify: bool = True) -> BreachResponse:
        records = Records(EnvelopeCipher(keyring=self.keyring.keyring(self.clients),
                                         store=PostgresWrappedKeyStore(self.key_pool)))
        notifier: Notifier = notifier_from_environment(self.environ, self.clients) if notify else _NoNotifier()
        return BreachResponse(
            store=self.store(),
            trail=PostgresTrail(trail_connection, public_key=self.checkpoint_key(),
                                environment=self.environ.get(settings.ENVIRONMENT, "").strip()),
            directory=PostgresUserDirectory(self.pool, Database(self.pool, AuditLedger()), records),
            notifier=notifier,
            key=self.key,
            contact=self.environ.get(settings.BREACH_CONTACT, ""),
            alerts=alerts_from_environment(self.environ, self.clients),
        )

    def checkpoint_key(self) -> ec.EllipticCurvePublicKey | None:
        """The public key of the signed audit checkpoints, when the task has one (kms:GetPublicKey)."""
        if not (self.environ.get(settings.AUDIT_SIGNING_KEY_ID, "").strip()
                or self.environ.get(settings.LOCAL_AUDIT_SIGNING_KEY_FILE, "").strip()):
            return None
        return audit_trail.checkpoint_public_key(self.environ, self.clients)

    def store(self) -> PostgresIncidentStore:
        return PostgresIncidentStore(self.pool)

    def scratch_databases(self) -> PostgresScratchDatabases:
        """Scratch databases on the same cluster, created, migrated and dropped by the drill role (platform_drill:
        CREATEDB only), never by the master user. Each role logs in with its own IAM token when
        PLATFORM_DATABASE_IAM_AUTH is on (deployed), else with libpq's own password (PGPASSFILE, PGPASSWORD)."""
        base, clients = self.database, self.clients

        def role_settings(dbname: str, role: str) -> DatabaseSettings:
            return replace(base, dbname=dbname, user=role)

        def role_passwords(role: str) -> PasswordSource | None:
            return password_source(replace(base, user=role), clients) if base.iam_auth else None

        return PostgresScratchDatabases(
            creator=lambda dbname: connect(role_settings(dbname, DRILL_ROLE), role_passwords(DRILL_ROLE)),
            maintenance_db=base.dbname,
            settings_for=role_settings,
            passwords_for=role_passwords,
        )

    def close(self) -> None:
        self.pool.close()
        self.key_pool.close()


class _NoNotifier:
    def send(self, outgoing: Any) -> str:
        raise NotifierConfigurationError("this command does not send notifications")
