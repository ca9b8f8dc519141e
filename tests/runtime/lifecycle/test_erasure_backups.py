"""Erasure and backups (P10): a dump taken before the erasure, restored into a fresh database after it.

What the backups hold: the organisation's ciphertext AND its wrapped data keys (they live in the same
database), so a restored backup can decrypt until the erasure is replayed on it, which the restore procedure
does from the live erasure register before cutting over; untouched backups expire with their retention,
which is why the receipt's "complete everywhere by" is erasure time + the longest backup retention. A copy of
the ciphertext that reaches the live environment without its keys never decrypts again.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.audit.chain import ChainKey
from runtime.envelope import KeyMaterial, LocalKeyring
from runtime.lifecycle.erasure import verify_erasure
from tests.runtime.lifecycle.conftest import Organisation, Stack, fill_organisation
from tests.runtime.lifecycle.test_erasure import _ciphertexts, _decrypts, _rows_left
from tests.support.platform_db import PlatformDatabase, copy_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def keyring() -> LocalKeyring:
    return LocalKeyring(KeyMaterial(os.urandom(32)), environment="test")


@pytest.fixture
def live(fresh_db: PlatformDatabase, keyring: LocalKeyring, chain_key: ChainKey) -> Iterator[Stack]:
    stack = Stack(fresh_db, keyring, chain_key)
    yield stack
    stack.close()


def _dump(db: PlatformDatabase, target: Path) -> None:
    """pg_dump of the platform schema's data, as a nightly logical backup would take it."""
    subprocess.run(
        [str(db.cluster.bindir / "pg_dump"), "--data-only", "--schema=platform", "--format=custom",
         "--exclude-table-data=platform.schema_migrations",
         f"--file={target}", db.cluster.superuser_conninfo(db.dbname)],
        check=True, capture_output=True, timeout=60,
    )


def _restore(db: PlatformDatabase, source: Path) -> None:
    with db.admin(autocommit=True) as admin:  # the backup brings its own chain head
        admin.execute("TRUNCATE platform.audit_chain_head")
    subprocess.run(
        [str(db.cluster.bindir / "pg_restore"), "--data-only", "--disable-triggers", "--exit-on-error",
         f"--dbname={db.cluster.superuser_conninfo(db.dbname)}", str(source)],
        check=True, capture_output=True, timeout=60,
    )


def test_backup_from_before_erasure_restored_after_it(
    live: Stack, template_db: PlatformDatabase, keyring: LocalKeyring, chain_key: ChainKey, tmp_path: Path
) -> None:
    org, other = fill_organisation(live), fill_organisation(live)
    backup = tmp_path / "before-erasure.dump"
    _dump(live.db, backup)
    copies, other_copies = _ciphertexts(live, org), _ciphertexts(live, other)
    live.eraser().erase(org.principal)

    # The live environment: the copied ciphertext never decrypts again; the other organisation's does.
    assert not any(_decrypts(live.fresh_jobs_cipher(), org.owner_id, c) for c in copies)
    assert all(_decrypts(live.fresh_jobs_cipher(), other.owner_id, c) for c in other_copies)

    restored_db = copy_of(template_db, f"r_{uuid.uuid4().hex[:12]}")
    _restore(restored_db, backup)
    restored = Stack(restored_db, keyring, chain_key)
    try:
        # The backup holds the wrapped keys too: restored as is, it is readable until the erasure is replayed.
        assert _rows_left(restored, org.owner_id)
        assert all(_decrypts(restored.fresh_jobs_cipher(), org.owner_id, c) for c in copies)

        _replay_erasures(live, restored, [org])

        assert _rows_left(restored, org.owner_id) == {}
        assert not any(_decrypts(restored.fresh_jobs_cipher(), org.owner_id, c) for c in copies)
        assert all(_decrypts(restored.fresh_jobs_cipher(), other.owner_id, c) for c in other_copies)
        verified = verify_erasure(database=restored.jobs, key_store=restored.jobs_keys,
                                  fresh_cipher=restored.fresh_jobs_cipher, receipt_key=restored.receipt_key,
                                  principal=org.principal)
        assert verified.ok, verified.describe()
    finally:
        restored.close()


def _replay_erasures(live: Stack, restored: Stack, organisations: list[Organisation]) -> None:
    """What the restore procedure does before cutting over: every erasure in the live register (support view
    `support.erasures`, `python -m runtime erase register`) is run again on the restored database."""
    with live.db.connect("platform_jobs") as conn:
        erased = {r[0] for r in conn.execute("SELECT owner_id FROM support.erasures WHERE state = 'complete'")}
    for org in organisations:
        assert org.owner_id in erased
        restored.eraser().erase(org.principal)
