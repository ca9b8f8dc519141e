"""Shared pieces of the audit trail tests: a sequenced ledger in a database of its own, a moto checkpoint bucket
with Object Lock, the verify call as an auditor makes it."""

import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.audit.published import Cadence
from runtime.audit.verify import VerifyReport
from runtime.checkpoint_bucket import CheckpointBucket
from runtime.db import Database, OwnerScope, PostgresWrappedKeyStore, Records, connect, open_pool
from runtime.db.audit_verify import Trust, verify_audit_trail
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, SEQUENCER_ROLE, SUPPORT_ROLE
from runtime.db.sequencer import ADVISORY_LOCK, Sequencer, SequencerConfig
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from runtime.signing import LocalReceiptSigner
from tests.support.platform_db import PlatformDatabase

ENVIRONMENT = "test"
# The signer of the shared test database's checkpoints (tests sequence it in turns, verify with its public key).
SHARED_SIGNER = LocalReceiptSigner.generate()
REGION = "eu-west-1"
BUCKET = "audit-checkpoints-test"


def connector(db: PlatformDatabase, role: str) -> Any:
    """A picklable connection factory (verify's worker processes call it)."""
    return functools.partial(connect, db.settings(role), db.password(role))


def object_lock_bucket() -> CheckpointBucket:
    """A moto bucket as stacks/audit.py makes it: Object Lock with a default (GOVERNANCE) retention."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION},
                     ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    return CheckpointBucket(s3, BUCKET)


@dataclass
class Ledger:
    db: PlatformDatabase
    database: Database
    records: Records
    principal: OwnerScope
    signer: LocalReceiptSigner
    bucket: CheckpointBucket
    sequencer: Sequencer

    def write(self, count: int) -> None:
        for i in range(count):
            with self.database.owner_transaction(self.principal) as tx:
                self.records.insert(tx, "prompts", [{"body": f"prompt {i}".encode()}])

    def sequence(self, *, force: bool = True) -> None:
        with self.db.connect(SEQUENCER_ROLE, autocommit=True) as conn:
            while self.sequencer.step(conn):
                pass
            if force:
                self.sequencer.checkpoint_if_due(conn, force=True)

    def trust(self, *, bucket: bool = True) -> Trust:
        return Trust(self.signer.public_key().key, ENVIRONMENT, self.bucket if bucket else None,
                     Cadence(self.sequencer.config.every, self.sequencer.config.seconds))

    def verify(self, *, workers: int = 1, now: datetime | None = None, **options: Any) -> VerifyReport:
        return verify_audit_trail(connector(self.db, SUPPORT_ROLE), self.trust(), workers=workers, now=now,
                                  **options)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def make_ledger(db: PlatformDatabase, *, every: int, seconds: int = 3600) -> Iterator[Ledger]:
    pool = open_pool(db.settings(APP_ROLE, pool_max_size=2), db.password(APP_ROLE), name="audit-tests")
    try:
        cipher = EnvelopeCipher(keyring=LocalKeyring(KeyMaterial(os.urandom(32)), environment="test"),
                                store=PostgresWrappedKeyStore(pool))
        signer = LocalReceiptSigner.generate()
        bucket = object_lock_bucket()
        sequencer = Sequencer(SequencerConfig(ENVIRONMENT, every=every, seconds=seconds), signer, bucket)
        ledger = Ledger(db, Database(pool, AuditLedger()), Records(cipher),
                        OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-1"), signer, bucket, sequencer)
        with ledger.database.owner_transaction(ledger.principal) as tx:
            ledger.records.insert(tx, "organisations", [{"name": b"Org"}])
        yield ledger
    finally:
        pool.close()


def sequence(db: PlatformDatabase, *, every: int = 1000) -> None:
    """Chain everything queued in `db` (signing with SHARED_SIGNER, no bucket), as the sequencer service does."""
    sequencer = Sequencer(SequencerConfig(ENVIRONMENT, every=every, seconds=3600), SHARED_SIGNER, None)
    with db.connect(SEQUENCER_ROLE, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))  # tests sharing the database take turns
        while sequencer.step(conn):
            pass
        sequencer.checkpoint_if_due(conn, force=True)


def sequence_and_verify(db: PlatformDatabase, *, every: int = 1000) -> VerifyReport:
    """`sequence`, then verify the whole chain with SHARED_SIGNER's public key."""
    sequence(db, every=every)
    trust = Trust(SHARED_SIGNER.public_key().key, ENVIRONMENT, None, Cadence(every, 3600))
    return verify_audit_trail(connector(db, SUPPORT_ROLE), trust)
