"""`org migrate-keys` (issue 15): data keys wrapped under the old shared key are re-wrapped under each
organisation's own key; every field stays readable with the per-organisation keyring alone; a re-run changes
nothing (idempotent, resumable); one audit event per organisation; and then erasure shreds the organisation."""

from pathlib import Path

import pytest

from runtime.db import PostgresWrappedKeyStore
from runtime.db.schema import JOBS_ROLE
from runtime.envelope import EnvelopeCipher, LocalOrganisationKeyring
from runtime.lifecycle.key_migration import migrate_organisation_keys
from tests.runtime.lifecycle.conftest import Stack, fill_organisation
from tests.runtime.lifecycle.test_erasure import _ciphertexts, _decrypts

pytestmark = pytest.mark.postgres


def test_migrate_keys_shared_to_organisation_rewraps_then_rerun_changes_nothing(lc_stack: Stack,
                                                                                tmp_path: Path) -> None:
    org, other = fill_organisation(lc_stack), fill_organisation(lc_stack)
    target = LocalOrganisationKeyring(tmp_path, environment="test")
    per_org = EnvelopeCipher(keyring=target, store=PostgresWrappedKeyStore(lc_stack.pool(JOBS_ROLE, 1)))
    copies = _ciphertexts(lc_stack, org)
    done = migrate_organisation_keys(database=lc_stack.jobs, shared=lc_stack.keyring, target=target, admin=target,
                                     principals=[org.principal])
    assert [(d.rewrapped, d.already) for d in done] == [(1, 0)]
    assert all(_decrypts(per_org, org.owner_id, c) for c in copies)  # the organisation's own key alone
    again = migrate_organisation_keys(database=lc_stack.jobs, shared=lc_stack.keyring, target=target,
                                      admin=target, principals=[org.principal])
    assert [(d.rewrapped, d.already) for d in again] == [(0, 1)]
    other_copies = _ciphertexts(lc_stack, other)  # not migrated: still under the shared key
    assert all(_decrypts(lc_stack.fresh_jobs_cipher(), other.owner_id, c) for c in other_copies)
    with lc_stack.db.admin() as admin:
        events = admin.execute("SELECT count(*) FROM platform.audit_events WHERE owner_id = %s "
                               "AND fields::text LIKE '%%data_keys%%'", (org.owner_id,)).fetchone()
    assert events is not None and events[0] == 2
