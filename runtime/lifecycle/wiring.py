"""The lifecycle job's adapters, built from the container environment when a command runs (never at import).

Database: the jobs role (platform_jobs) through verified TLS, one pool for owner transactions, one for the
export snapshot, one for the key store. Keys: the environment's KMS application key (or the local keyring in
local runs and tests), chosen with every entry point's guards (runtime.wiring.keyring). Receipts: signed with the
environment's KMS signing key (or a local one in local runs and tests, runtime.lifecycle.receipt_signing's
guards); the old MAC key, when set, only verifies receipts issued before signing. AWS clients:
runtime.wiring.clients (S3 signs with SigV4, which SSE-KMS objects need), S3's built only when an export goes to S3.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from psycopg_pool import ConnectionPool

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.audit.keys import chain_key_from_environment
from runtime.bounds import KEY_DELETION_PENDING_DAYS
from runtime.db import Database, DatabaseSettings, OwnerScope, PostgresWrappedKeyStore, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.organisation_keys import PostgresCustomerKeys
from runtime.envelope import CacheLimits, DataKeyCache, EnvelopeCipher, Keyring, OrganisationKeyAdmin
from runtime.environment import optional_integer
from runtime.errors import ConfigurationError
from runtime.lifecycle.config import LifecycleSettings
from runtime.lifecycle.erasure import Eraser, ErasureSettings
from runtime.lifecycle.jobs import ExportJob
from runtime.lifecycle.receipt import ReceiptKey, ReceiptKeys
from runtime.lifecycle.receipt_signing import choose_receipt_signer
from runtime.lifecycle.s3 import S3ExportObjects
from runtime.lifecycle.storage import S3Location
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.keyring import SHARED, KeyringChoice, choose_keyring
from runtime.wiring.passwords import password_source

# The actor the audit trail names when an operator runs a job by hand without --actor (a fixed, documented id).
JOB_ACTOR: Final = uuid.UUID("00000000-0000-4000-8000-00000000a1fe")


def principal(owner: uuid.UUID, actor: uuid.UUID | None, what: str) -> OwnerScope:
    # Short, one word: the audit scrubber refuses long random strings in request ids (they look like secrets), and
    # "migrate-keys-<8 hex>" is one already.
    return OwnerScope(owner, actor or JOB_ACTOR, f"{what}-{uuid.uuid4().hex[:8]}")


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
    # The keyring settings (None: a test hands in its keyring, shared mode). Per-organisation: erasure schedules
    # the organisation key's deletion.
    keyring_choice: KeyringChoice | None = None
    _s3: Any = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], clients: ClientFactory = aws_client) -> "LifecycleWiring":
        config = LifecycleSettings.from_environment(environ)
        db = DatabaseSettings.from_environment(environ)
        passwords = password_source(db, clients)
        chain_key = chain_key_from_environment(environ)
        choice = choose_keyring(environ, config.environment)
        pool = open_pool(replace(db, pool_min_size=1, pool_max_size=3), passwords, name="lifecycle")
        snapshot = open_pool(replace(db, pool_min_size=1, pool_max_size=1), passwords, name="lifecycle-snapshot")
        keys = open_pool(replace(db, pool_min_size=1, pool_max_size=2), passwords, name="lifecycle-keys")
        keyring = choice.keyring(clients, customer_keys=PostgresCustomerKeys(keys))
        return cls(environ, clients, config, chain_key, pool, snapshot, keys, keyring, choice)

    def close(self) -> None:
        for pool in (self.pool, self.snapshot_pool, self.key_pool):
            pool.close()

    @property
    def database(self) -> Database:
        return Database(self.pool, AuditLedger())

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

    def receipt_keys(self) -> ReceiptKeys:
        """The receipt signer (checked by its guards; a KMS signer calls KMS when it first signs or verifies) and
        the MAC key of old receipts, when set."""
        signer = choose_receipt_signer(self.environ, self.config.environment).signer(self.clients)
        return ReceiptKeys(signer, ReceiptKey.optional_from_environment(self.environ))

    @property
    def keyring_mode(self) -> str:
        return SHARED if self.keyring_choice is None else self.keyring_choice.mode

    def organisation_keys(self) -> OrganisationKeyAdmin | None:
        """The administration of organisation keys (per-organisation mode), else None."""
        if self.keyring_choice is None:
            return None
        return self.keyring_choice.organisation_keys(self.environ, self.clients,
                                                     customer_keys=PostgresCustomerKeys(self.key_pool))

    def key_deletion_pending_days(self) -> int:
        """PLATFORM_KEY_DELETION_PENDING_DAYS, 7-30 (runtime/bounds.py), default 7."""
        days = optional_integer(self.environ, settings.KEY_DELETION_PENDING_DAYS)
        if days is None:
            return settings.DEFAULT_KEY_DELETION_PENDING_DAYS
        try:
            return KEY_DELETION_PENDING_DAYS.check(days)
        except ValueError:
            raise ConfigurationError(f"{settings.KEY_DELETION_PENDING_DAYS}={days} is out of range; use "
                                     f"{KEY_DELETION_PENDING_DAYS.describe()} days (KMS's range)") from None

    def eraser(self) -> Eraser:
        return Eraser(
            database=self.database, key_store=self.key_store, cipher=self.cipher(),
            receipt_key=self.receipt_keys(),
            settings=ErasureSettings(self.config.environment, self.config.require_retention(),
                                     self.config.dek_cache_max_age_seconds, self.keyring_mode,
                                     self.key_deletion_pending_days()),
            exports=self.export_objects(), organisation_keys=self.organisation_keys(),
        )
