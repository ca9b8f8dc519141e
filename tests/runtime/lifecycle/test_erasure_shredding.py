"""The proof of crypto-shredding (P10): a copy of the database taken BEFORE an erasure (a nightly dump, a
snapshot, a replica), restored after it and read with the environment's keyring, yields 0 readable encrypted
fields of the erased organisation, because the erasure destroyed the organisation's own key, which lives
outside the database; every field of another organisation stays readable. The erasure is NOT replayed on the
copy: nothing in it needs touching. Once with the local emulation (a key file per organisation), once with moto
KMS (after ScheduleKeyDeletion the key is PendingDeletion: Decrypt is refused, a typed error)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.audit.chain import ChainKey
from runtime.envelope import (
    EnvelopeCipher,
    KeyMaterial,
    KeyState,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
    LocalOrganisationKeyring,
    OrganisationKeyAdmin,
    OrganisationKeyUnavailableError,
)
from runtime.errors import ConfigurationError, DecryptionError
from runtime.lifecycle.erasure import ErasureSettings, verify_erasure
from runtime.lifecycle.receipt import verify_receipt
from tests.runtime.envelope.test_organisation_keyring import ADMIN_ROLE, RUNTIME_ROLE, StateEnforcingKms
from tests.runtime.lifecycle.conftest import RETENTION_DAYS, Stack, fill_organisation
from tests.runtime.lifecycle.test_erasure import _ciphertexts
from tests.runtime.lifecycle.test_erasure_backups import _dump, _restore
from tests.support.platform_db import PlatformDatabase, copy_of

pytestmark = pytest.mark.postgres
PENDING_DAYS = 7
CACHE_SECONDS = 300.0


class ProvisioningLocalKeyring(LocalOrganisationKeyring):
    """Registration provisions the organisation's key before its first data key (the control-plane step)."""

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        self.provision(owner)
        return super().generate_data_key(owner)


class ProvisioningKmsKeyring(KmsOrganisationKeyring):
    def __init__(self, *, admin: KmsOrganisationKeys, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._admin = admin

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        self._admin.provision(owner)
        return super().generate_data_key(owner)


def _readable(cipher: EnvelopeCipher, owner: uuid.UUID, copies: list[tuple[str, str, str, bytes]]
              ) -> tuple[int, list[Exception]]:
    """How many of the copied ciphertexts decrypt, and the errors of those that do not."""
    readable, errors = 0, []
    for table, column, row_id, blob in copies:
        try:
            cipher.decrypt(blob, owner=str(owner), table=table, column=column, row_id=row_id)
            readable += 1
        except (DecryptionError, OrganisationKeyUnavailableError) as exc:
            errors.append(exc)
    return readable, errors


def _prove(fresh_db: PlatformDatabase, template_db: PlatformDatabase, chain_key: ChainKey, keyring: Any,
           admin: OrganisationKeyAdmin, backup: Path, label: str) -> dict[str, Any]:
    live = Stack(fresh_db, keyring, chain_key)
    try:
        org, other = fill_organisation(live), fill_organisation(live)
        _dump(live.db, backup)  # the copy, taken before the erasure
        before, _ = _readable(live.fresh_jobs_cipher(), org.owner_id, _ciphertexts(live, org))
        eraser = live.eraser(settings=ErasureSettings("test", RETENTION_DAYS, CACHE_SECONDS, "per-organisation",
                                                      PENDING_DAYS), organisation_keys=admin)
        receipt = eraser.erase(org.principal)
        assert admin.state(str(org.owner_id)).state in (KeyState.PENDING_DELETION, KeyState.MISSING)
        assert admin.state(str(other.owner_id)).state is KeyState.ENABLED
        assert eraser.erase(org.principal) == receipt  # a re-run of a completed erasure: the same receipt
        verified = verify_erasure(database=live.jobs, key_store=live.jobs_keys, fresh_cipher=live.fresh_jobs_cipher,
                                  receipt_key=live.receipt_key, principal=org.principal, organisation_keys=admin)
        assert verified.ok, verified.describe()
        assert "organisation key destroyed" in verified.describe()
    finally:
        live.close()

    restored_db = copy_of(template_db, f"r_{uuid.uuid4().hex[:12]}")
    _restore(restored_db, backup)
    restored = Stack(restored_db, keyring, chain_key)  # the environment's keyring, a fresh cache
    try:
        copies, other_copies = _ciphertexts(restored, org), _ciphertexts(restored, other)
        assert copies and len(copies) == before  # the copy still holds every field and its wrapped keys
        after, errors = _readable(restored.fresh_jobs_cipher(), org.owner_id, copies)
        other_after, _ = _readable(restored.fresh_jobs_cipher(), other.owner_id, other_copies)
    finally:
        restored.close()
    print(f"\n{label}: erased organisation: {before} of {len(copies)} fields readable before, {after} after; "
          f"other organisation: {other_after} of {len(other_copies)} readable after")
    assert before == len(copies)
    assert after == 0
    assert errors and all(isinstance(e, OrganisationKeyUnavailableError) for e in errors)  # typed, every one
    assert other_after == len(other_copies)
    return receipt


def _check_receipt_date(receipt: dict[str, Any]) -> None:
    assert receipt["version"] == 3 and receipt["keyring_mode"] == "per-organisation"
    assert receipt["organisation_key"] == "deletion-scheduled"
    assert receipt["key_deletion_pending_days"] == PENDING_DAYS
    erased = datetime.fromisoformat(receipt["erased_at"])
    scheduled = datetime.fromisoformat(receipt["key_deletion_scheduled_at"])
    assert scheduled <= erased
    # whatever the backup retention (35 days here): the key's pending window + the cache's max age
    assert datetime.fromisoformat(receipt["complete_everywhere_by"]) == \
        erased + timedelta(days=PENDING_DAYS, seconds=CACHE_SECONDS)


@pytest.fixture
def backup(tmp_path: Path) -> Path:
    return tmp_path / "before-erasure.dump"


def test_erasure_local_organisation_key_pre_erasure_copy_yields_zero_readable_fields(
    fresh_db: PlatformDatabase, template_db: PlatformDatabase, chain_key: ChainKey, tmp_path: Path, backup: Path
) -> None:
    keys = tmp_path / "organisation-keys"
    keys.mkdir()
    keyring = ProvisioningLocalKeyring(keys, environment="test")
    receipt = _prove(fresh_db, template_db, chain_key, keyring, keyring, backup, "local organisation keys")
    _check_receipt_date(receipt)
    assert len(list(keys.iterdir())) == 1  # the other organisation's key file, only


@pytest.fixture
def kms_admin(kms_client: Any) -> KmsOrganisationKeys:
    return KmsOrganisationKeys(client=kms_client, app="platform", environment="test", account="123456789012",
                               user_role_arns=[RUNTIME_ROLE], admin_role_arn=ADMIN_ROLE)


def test_erasure_kms_organisation_key_pending_deletion_copy_yields_zero_readable_fields(
    fresh_db: PlatformDatabase, template_db: PlatformDatabase, chain_key: ChainKey, kms_client: Any,
    kms_admin: KmsOrganisationKeys, backup: Path
) -> None:
    keyring = ProvisioningKmsKeyring(admin=kms_admin, client=StateEnforcingKms(kms_client), app="platform",
                                     environment="test")
    receipt = _prove(fresh_db, template_db, chain_key, keyring, kms_admin, backup, "KMS organisation keys (moto)")
    _check_receipt_date(receipt)
    owner = receipt["owner_id"]
    meta = kms_client.describe_key(KeyId=kms_admin.alias(owner))["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"


def test_eraser_mode_without_key_administration_refused(lc_stack: Stack) -> None:
    with pytest.raises(ConfigurationError):
        lc_stack.eraser(settings=ErasureSettings("test", RETENTION_DAYS, CACHE_SECONDS, "per-organisation"))
    with pytest.raises(ConfigurationError):
        ErasureSettings("test", RETENTION_DAYS, CACHE_SECONDS, "per-organisation", 6)


def test_erasure_shared_key_receipt_says_key_not_destroyable(lc_stack: Stack) -> None:
    org = fill_organisation(lc_stack)
    receipt = lc_stack.eraser().erase(org.principal)
    assert receipt["keyring_mode"] == "shared" and receipt["organisation_key"] == "not-destroyable-shared-key"
    assert receipt["key_deletion_pending_days"] is None
    assert datetime.fromisoformat(receipt["complete_everywhere_by"]) == \
        datetime.fromisoformat(receipt["erased_at"]) + timedelta(days=RETENTION_DAYS)
    assert verify_receipt(lc_stack.receipt_key, receipt).keyring_mode == "shared"


def test_erase_verify_per_organisation_key_still_enabled_fails(lc_stack: Stack, tmp_path: Path) -> None:
    org = fill_organisation(lc_stack)
    keyring = LocalOrganisationKeyring(tmp_path, environment="test")

    class Stubborn:
        """A key administration whose deletion does nothing: the eraser must refuse to complete."""

        def provision(self, organisation: str) -> Any:
            return keyring.provision(organisation)

        def state(self, organisation: str) -> Any:
            return keyring.state(organisation)

        def schedule_deletion(self, organisation: str, pending_days: int) -> Any:
            return keyring.state(organisation)

        def cancel_deletion(self, organisation: str) -> Any:
            raise AssertionError

        def customer_key(self, organisation: str) -> None:
            return None

    keyring.provision(str(org.owner_id))
    eraser = lc_stack.eraser(settings=ErasureSettings("test", RETENTION_DAYS, CACHE_SECONDS, "per-organisation"),
                             organisation_keys=Stubborn())
    from runtime.errors import LifecycleError
    with pytest.raises(LifecycleError, match="not complete"):
        eraser.erase(org.principal)




class _CustomerHeld:
    """The administration of an organisation that registered its own key (BYOK): the platform destroys nothing."""

    ARN = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def customer_key(self, organisation: str) -> str:
        return self.ARN

    def schedule_deletion(self, organisation: str, pending_days: int) -> Any:
        raise AssertionError("the eraser must not try to delete the organisation's own key")

    def state(self, organisation: str) -> Any:
        raise AssertionError("a customer-held key is not checked by state")

    provision = cancel_deletion = schedule_deletion


def test_erasure_customer_held_key_receipt_says_so_with_the_backup_date_and_verifies(lc_stack: Stack) -> None:
    """BYOK: rows and wrapped keys go; the organisation's own key stays its own: the receipt says customer-held,
    dates completion by the backups' retention (the platform cannot destroy the key), verifies, and erase verify
    accepts it."""
    org = fill_organisation(lc_stack)
    admin = _CustomerHeld()
    eraser = lc_stack.eraser(settings=ErasureSettings("test", RETENTION_DAYS, CACHE_SECONDS, "per-organisation"),
                             organisation_keys=admin)
    receipt = eraser.erase(org.principal)
    assert receipt["keyring_mode"] == "per-organisation" and receipt["organisation_key"] == "customer-held"
    assert receipt["key_deletion_pending_days"] is None and receipt["key_deletion_scheduled_at"] is None
    assert datetime.fromisoformat(receipt["complete_everywhere_by"]) == \
        datetime.fromisoformat(receipt["erased_at"]) + timedelta(days=RETENTION_DAYS)
    assert verify_receipt(lc_stack.receipt_key, receipt).customer_key
    verified = verify_erasure(database=lc_stack.jobs, key_store=lc_stack.jobs_keys,
                              fresh_cipher=lc_stack.fresh_jobs_cipher, receipt_key=lc_stack.receipt_key,
                              principal=org.principal, organisation_keys=admin)  # type: ignore[arg-type]
    assert verified.ok, verified.describe()
    assert "only the organisation can destroy it" in verified.describe()
