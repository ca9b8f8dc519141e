"""Adapters for the breach commands, from the container environment (runtime/settings.py names). AWS clients
come from `clients(service)` (runtime.wiring.clients), called only when a command needs one; nothing is built at
import time. The keyring is chosen, with every entry point's guards (runtime.wiring.keyring), before any
connection is opened.

The job runs as the jobs role (PLATFORM_DATABASE_USER=platform_jobs): it reads the ledger through support.*,
the users' ids and addresses owner-bound (audited), and writes the incident tables.
"""

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
from runtime.db.credentials import PasswordSource, StaticPassword
from runtime.db.key_store import PostgresWrappedKeyStore
from runtime.db.ledger import AuditLedger
from runtime.db.records import Records
from runtime.db.session import Database
from runtime.envelope import EnvelopeCipher
from runtime.errors import ConfigurationError, NotifierConfigurationError
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
            trail=PostgresTrail(trail_connection),
            directory=PostgresUserDirectory(self.pool, Database(self.pool, AuditLedger(self.key)), records),
            notifier=notifier,
            key=self.key,
            contact=self.environ.get(settings.BREACH_CONTACT, ""),
            alerts=alerts_from_environment(self.environ, self.clients),
        )

    def store(self) -> PostgresIncidentStore:
        return PostgresIncidentStore(self.pool)

    def scratch_databases(self, admin_secret_id: str | None) -> PostgresScratchDatabases:
        """Scratch databases on the same cluster, created by the admin user from its Secrets Manager secret."""
        secret_id = admin_secret_id or self.environ.get(settings.DATABASE_ADMIN_SECRET_ID, "").strip()
        if not secret_id:
            raise ConfigurationError(
                f"the drill creates a scratch database: set {settings.DATABASE_ADMIN_SECRET_ID} (or --admin-secret-id) "
                "to the cluster's master user secret"
            )
        user, password = _admin_credentials(self.clients("secretsmanager"), secret_id)
        base, clients = self.database, self.clients

        def role_settings(dbname: str, role: str) -> DatabaseSettings:
            return replace(base, dbname=dbname, user=role)

        def role_passwords(role: str) -> PasswordSource | None:
            return password_source(replace(base, user=role), clients) if base.iam_auth else None

        return PostgresScratchDatabases(
            admin=lambda dbname: connect(replace(base, dbname=dbname, user=user), StaticPassword(password)),
            maintenance_db=base.dbname,
            settings_for=role_settings,
            passwords_for=role_passwords,
        )

    def close(self) -> None:
        self.pool.close()
        self.key_pool.close()


def _admin_credentials(client: Any, secret_id: str) -> tuple[str, str]:
    """The RDS-managed master secret: a JSON document with `username` and `password`."""
    try:
        text = client.get_secret_value(SecretId=secret_id)["SecretString"]
        document = json.loads(text)
        return str(document["username"]), str(document["password"])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigurationError(
            f"could not read the admin secret {secret_id} ({code}): it must be the cluster's master user secret "
            "(JSON with username and password) and the job needs secretsmanager:GetSecretValue on it"
        ) from None


class _NoNotifier:
    def send(self, outgoing: Any) -> str:
        raise NotifierConfigurationError("this command does not send notifications")
