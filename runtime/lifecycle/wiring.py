"""The lifecycle job's adapters, built from the container environment when a command runs (never at import).

Database: the jobs role (platform_jobs) through verified TLS, one pool for owner transactions, one for the
export snapshot, one for the key store. Keys: the environment's KMS application key (or the local keyring
in development). S3: a SigV4 client (SSE-KMS objects need it), built only when an export goes to S3.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from psycopg_pool import ConnectionPool

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment
from runtime.audit.ledger import AuditLedger
from runtime.db import Database, DatabaseSettings, PostgresWrappedKeyStore, Principal, open_pool
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword
from runtime.envelope import AwsKmsKeyring, CacheLimits, DataKeyCache, EnvelopeCipher, Keyring, LocalKeyring
from runtime.lifecycle.config import LifecycleSettings
from runtime.lifecycle.erasure import Eraser, ErasureSettings
from runtime.lifecycle.jobs import ExportJob
from runtime.lifecycle.receipt import ReceiptKey
from runtime.lifecycle.s3 import S3ExportObjects
from runtime.lifecycle.storage import S3Location

ClientFactory = Callable[[str], Any]
# The actor the audit trail names when an operator runs a job by hand without --actor (a fixed, documented id).
JOB_ACTOR: Final = uuid.UUID("00000000-0000-4000-8000-00000000a1fe")


def boto3_clients(service: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # built when a command runs, never at import
    from botocore.config import Config  # type: ignore[import-untyped]

    if service == "s3":
        return boto3.client("s3", config=Config(signature_version="s3v4"))
    return boto3.client(service)


def password_source(db: DatabaseSettings, clients: ClientFactory) -> PasswordSource | None:
    if db.iam_auth:
        return IamAuthToken(client=clients("rds"), host=db.host, port=db.port, user=db.user)
    if db.password_secret_id:
        return SecretsManagerPassword(client=clients("secretsmanager"), secret_id=db.password_secret_id)
    return None  # libpq's own (PGPASSWORD, PGPASSFILE): development and tests


def keyring_from_environment(environ: Mapping[str, str], clients: ClientFactory, environment: str) -> Keyring:
    key_id = environ.get(settings.KMS_APPLICATION_KEY_ID, "").strip()
    if key_id:
        return AwsKmsKeyring(client=clients("kms"), key_id=key_id, environment=environment)
    return LocalKeyring.from_environment(environ, environment=environment)


def principal(owner: uuid.UUID, actor: uuid.UUID | None, what: str) -> Principal:
    # Short: the audit scrubber refuses long random strings in request ids (they look like secrets).
    return Principal(owner, actor or JOB_ACTOR, f"{what}-{uuid.uuid4().hex[:8]}")


@dataclass
class LifecycleWiring:
    environ: Mapping[str, str]
    clients: ClientFactory
    config: LifecycleSettings
    chain_key: ChainKey
    pool: ConnectionPool
    snapshot_pool: ConnectionPool
    key_pool: ConnectionPool
    keyring: Keyring
    _s3: Any = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], clients: ClientFactory = boto3_clients) -> "LifecycleWiring":
        config = LifecycleSettings.from_environment(environ)
        db = DatabaseSettings.from_environment(environ)
        passwords = password_source(db, clients)
        chain_key = chain_key_from_environment(environ)
        keyring = keyring_from_environment(environ, clients, config.environment)
        pool = open_pool(replace(db, pool_min_size=1, pool_max_size=3), passwords, name="lifecycle")
        snapshot = open_pool(replace(db, pool_min_size=1, pool_max_size=1), passwords, name="lifecycle-snapshot")
        keys = open_pool(replace(db, pool_min_size=1, pool_max_size=2), passwords, name="lifecycle-keys")
        return cls(environ, clients, config, chain_key, pool, snapshot, keys, keyring)

    def close(self) -> None:
        for pool in (self.pool, self.snapshot_pool, self.key_pool):
            pool.close()

    @property
    def database(self) -> Database:
        return Database(self.pool, AuditLedger(self.chain_key))

    @property
    def key_store(self) -> PostgresWrappedKeyStore:
        return PostgresWrappedKeyStore(self.key_pool)

    def cipher(self) -> EnvelopeCipher:
        """A cipher with an empty cache of its own (erase verify uses a fresh one, as a new task would)."""
        cache: DataKeyCache[Any, Any] = DataKeyCache(CacheLimits.from_environment(self.environ))
        return EnvelopeCipher(keyring=self.keyring, store=self.key_store, cache=cache)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self.clients("s3")
        return self._s3

    def export_job(self, *, to_s3: bool) -> ExportJob:
        return ExportJob(
            database=self.database, snapshot_connections=self.snapshot_pool, cipher=self.cipher(),
            s3=self.s3 if to_s3 else None,
            exports_kms_key_id=self.config.exports_kms_key_id, url_expiry_seconds=self.config.url_expiry_seconds,
        )

    def default_destination(self) -> S3Location | None:
        return S3Location(self.config.exports_bucket, "") if self.config.exports_bucket else None

    def export_objects(self) -> S3ExportObjects | None:
        default = self.default_destination()
        return None if default is None else S3ExportObjects(self.s3, default)

    def eraser(self) -> Eraser:
        return Eraser(
            database=self.database, key_store=self.key_store, cipher=self.cipher(),
            receipt_key=ReceiptKey.from_environment(self.environ),
            settings=ErasureSettings(self.config.environment, self.config.require_retention(),
                                     self.config.dek_cache_max_age_seconds),
            exports=self.export_objects(),
        )
