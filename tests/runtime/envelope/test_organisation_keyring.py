"""Per-organisation keyrings (P6, P10): KMS keys by alias, against moto (CreateKey, CreateAlias, tags,
DisableKey, ScheduleKeyDeletion, CancelKeyDeletion), with botocore's Stubber for the states moto serves
anyway; and the local emulation (a key file per organisation, outside the database)."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from runtime.envelope import (
    CacheLimits,
    DataKeyCache,
    EnvelopeCipher,
    InMemoryWrappedKeyStore,
    KeyState,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
    LocalOrganisationKeyring,
    OrganisationKeyUnavailableError,
)
from runtime.envelope.keyrings import organisation_encryption_context, organisation_key_alias
from runtime.envelope.keyrings.organisation import organisation_key_policy
from runtime.errors import ConfigurationError, DecryptionError

ENV = "qa"
APP = "platform"
RUNTIME_ROLE = "arn:aws:iam::123456789012:role/platform-qa-data"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-qa-lifecycle"


def _org() -> str:
    return str(uuid.uuid4())


def _where(org: str) -> dict[str, str]:
    return {"owner": org, "table": "prompts", "column": "body", "row_id": "row-1"}


class StateEnforcingKms:
    """moto serves GenerateDataKey/Decrypt on disabled and pending-deletion keys; real KMS refuses them
    (DisabledException, KMSInvalidStateException). Reads the state moto keeps and answers as KMS does."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _refuse_unless_enabled(self, operation: str, key_id: str) -> None:
        state = self._client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        if state != "Enabled":
            code = "DisabledException" if state == "Disabled" else "KMSInvalidStateException"
            raise ClientError({"Error": {"Code": code, "Message": f"{key_id} is {state}"}}, operation)

    def generate_data_key(self, **kwargs: Any) -> Any:
        self._refuse_unless_enabled("GenerateDataKey", kwargs["KeyId"])
        return self._client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self._refuse_unless_enabled("Decrypt", kwargs["KeyId"])
        return self._client.decrypt(**kwargs)


@pytest.fixture
def admin(kms_client: Any) -> KmsOrganisationKeys:
    return KmsOrganisationKeys(client=kms_client, app=APP, environment=ENV, account="123456789012",
                               user_role_arns=[RUNTIME_ROLE], admin_role_arn=ADMIN_ROLE)


@pytest.fixture
def keyring(kms_client: Any) -> KmsOrganisationKeyring:
    return KmsOrganisationKeyring(client=StateEnforcingKms(kms_client), app=APP, environment=ENV)


def test_kms_organisation_keys_provision_creates_tagged_key_alias_and_policy(
    kms_client: Any, admin: KmsOrganisationKeys
) -> None:
    org = _org()
    status = admin.provision(org)
    assert status.state is KeyState.ENABLED and status.key_id
    described = kms_client.describe_key(KeyId=f"alias/{APP}-{ENV}-org-{org}")["KeyMetadata"]
    assert described["KeyId"] == status.key_id and described["KeyUsage"] == "ENCRYPT_DECRYPT"
    tags = {t["TagKey"]: t["TagValue"] for t in kms_client.list_resource_tags(KeyId=status.key_id)["Tags"]}
    assert tags == {"platform:environment": ENV, "platform:app": APP, "platform:organisation": org}
    assert kms_client.get_key_rotation_status(KeyId=status.key_id)["KeyRotationEnabled"]
    policy = json.loads(kms_client.get_key_policy(KeyId=status.key_id, PolicyName="default")["Policy"])
    use = policy["Statement"][0]
    assert use["Principal"] == {"AWS": [RUNTIME_ROLE]}
    assert use["Condition"]["StringEquals"]["kms:EncryptionContext:organisation"] == org
    assert all("root" not in json.dumps(s["Principal"]) for s in policy["Statement"])


def test_kms_organisation_keys_provision_twice_keeps_one_key(kms_client: Any, admin: KmsOrganisationKeys) -> None:
    org = _org()
    first, second = admin.provision(org), admin.provision(org)
    assert first.key_id == second.key_id
    assert len(kms_client.list_keys()["Keys"]) == 1


def test_kms_organisation_keyring_wraps_under_the_organisations_own_key(
    kms_client: Any, admin: KmsOrganisationKeys, keyring: KmsOrganisationKeyring
) -> None:
    org_a, org_b = _org(), _org()
    admin.provision(org_a)
    admin.provision(org_b)
    store = InMemoryWrappedKeyStore()
    cipher = EnvelopeCipher(keyring=keyring, store=store)
    blob = cipher.encrypt(b"prompt", **_where(org_a))
    assert cipher.decrypt(blob, **_where(org_a)) == b"prompt"
    wrapped = store.current(org_a)
    assert wrapped is not None
    # The wrapped key opens only under org A's key and with org A's context.
    with pytest.raises(ClientError):
        kms_client.decrypt(CiphertextBlob=wrapped.wrapped, KeyId=organisation_key_alias(APP, ENV, org_b),
                           EncryptionContext=organisation_encryption_context(ENV, org_a))
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(org_b, wrapped.wrapped)


def test_kms_organisation_keyring_unprovisioned_organisation_gets_the_typed_error(
    keyring: KmsOrganisationKeyring
) -> None:
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())
    with pytest.raises(OrganisationKeyUnavailableError) as raised:
        cipher.encrypt(b"x", **_where(_org()))
    assert raised.value.code == "NotFoundException" and "provision-keys" in str(raised.value)


@pytest.mark.parametrize("how", ["disable", "schedule-deletion"])
def test_kms_organisation_keyring_disabled_or_pending_deletion_key_refuses_after_cache_max_age(
    kms_client: Any, admin: KmsOrganisationKeys, keyring: KmsOrganisationKeyring, how: str
) -> None:
    org = _org()
    status = admin.provision(org)
    now = [0.0]
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore(),
                            cache=DataKeyCache(CacheLimits(max_age_seconds=60), clock=lambda: now[0]))
    blob = cipher.encrypt(b"x", **_where(org))
    if how == "disable":
        kms_client.disable_key(KeyId=status.key_id)
    else:
        assert admin.schedule_deletion(org, 7).state is KeyState.PENDING_DELETION
    assert cipher.decrypt(blob, **_where(org)) == b"x"  # within the cache max age
    now[0] = 60.0  # the cache never serves beyond its max age
    fresh = EnvelopeCipher(keyring=keyring, store=cipher._store,
                           cache=DataKeyCache(CacheLimits(max_age_seconds=60), clock=lambda: now[0]))
    for attempt in (cipher, fresh):
        with pytest.raises(OrganisationKeyUnavailableError):
            attempt.decrypt(blob, **_where(org))
        with pytest.raises(OrganisationKeyUnavailableError):
            attempt.encrypt(b"y", **_where(org))


def test_kms_organisation_keys_cancel_deletion_reenables_the_key(
    admin: KmsOrganisationKeys, keyring: KmsOrganisationKeyring
) -> None:
    org = _org()
    admin.provision(org)
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())
    blob = cipher.encrypt(b"x", **_where(org))
    scheduled = admin.schedule_deletion(org, 30)
    assert scheduled.state is KeyState.PENDING_DELETION and scheduled.deletion_date is not None
    assert admin.schedule_deletion(org, 30).state is KeyState.PENDING_DELETION  # idempotent
    assert admin.cancel_deletion(org).state is KeyState.ENABLED
    fresh = EnvelopeCipher(keyring=keyring, store=cipher._store)
    assert fresh.decrypt(blob, **_where(org)) == b"x"


def test_kms_organisation_keys_cancel_without_pending_deletion_refused(admin: KmsOrganisationKeys) -> None:
    org = _org()
    admin.provision(org)
    with pytest.raises(OrganisationKeyUnavailableError, match="not pending deletion"):
        admin.cancel_deletion(org)


@pytest.mark.parametrize("days", [0, 6, 31, 365])
def test_kms_organisation_keys_pending_window_outside_7_to_30_refused(admin: KmsOrganisationKeys, days: int) -> None:
    with pytest.raises(ConfigurationError, match="7 to 30"):
        admin.schedule_deletion(_org(), days)


@pytest.mark.parametrize("code", ["AccessDeniedException", "DisabledException", "KMSInvalidStateException",
                                  "NotFoundException"])
def test_kms_organisation_keyring_revoked_key_is_the_typed_error(kms_client: Any, code: str) -> None:
    keyring = KmsOrganisationKeyring(client=kms_client, app=APP, environment=ENV)
    org = _org()
    with Stubber(kms_client) as stub:
        stub.add_client_error("generate_data_key", service_error_code=code, http_status_code=400)
        stub.add_client_error("decrypt", service_error_code=code, http_status_code=400)
        with pytest.raises(OrganisationKeyUnavailableError) as raised:
            keyring.generate_data_key(org)
        assert raised.value.code == code and raised.value.organisation == org
        with pytest.raises(OrganisationKeyUnavailableError):
            keyring.unwrap_data_key(org, b"\x01" * 64)


def test_kms_organisation_keyring_not_a_uuid_names_no_key(keyring: KmsOrganisationKeyring) -> None:
    with pytest.raises(ConfigurationError, match="UUID"):
        keyring.generate_data_key("../../alias/other")


def test_kms_organisation_keys_calls_at_the_floor_one_generate_per_organisation(
    kms_client: Any, admin: KmsOrganisationKeys, keyring: KmsOrganisationKeyring
) -> None:
    orgs = [_org() for _ in range(5)]
    for org in orgs:
        admin.provision(org)
    cipher = EnvelopeCipher(keyring=keyring, store=InMemoryWrappedKeyStore())
    for _ in range(200):
        for org in orgs:
            cipher.decrypt(cipher.encrypt(b"x", **_where(org)), **_where(org))
    assert keyring.calls == len(orgs)


def test_organisation_key_policy_without_roles_refused() -> None:
    with pytest.raises(ConfigurationError, match="role"):
        organisation_key_policy(account="1", environment=ENV, organisation=_org(), user_role_arns=[],
                                admin_role_arn=ADMIN_ROLE)


# --- local emulation ---


def test_local_organisation_keyring_deleted_key_file_shreds_only_that_organisation(tmp_path: Path) -> None:
    keyring = LocalOrganisationKeyring(tmp_path, environment="test")
    org_a, org_b = _org(), _org()
    keyring.provision(org_a)
    keyring.provision(org_b)
    store = InMemoryWrappedKeyStore()
    writer = EnvelopeCipher(keyring=keyring, store=store)
    blob_a, blob_b = writer.encrypt(b"a", **_where(org_a)), writer.encrypt(b"b", **_where(org_b))
    assert keyring.schedule_deletion(org_a, 7).state is KeyState.MISSING
    assert not (tmp_path / f"{org_a}.key").exists()
    reader = EnvelopeCipher(keyring=keyring, store=store)  # a fresh task: wrapped keys still stored
    with pytest.raises(OrganisationKeyUnavailableError):
        reader.decrypt(blob_a, **_where(org_a))
    assert reader.decrypt(blob_b, **_where(org_b)) == b"b"


def test_local_organisation_keyring_unprovisioned_is_the_typed_error_and_key_file_is_private(tmp_path: Path) -> None:
    keyring = LocalOrganisationKeyring(tmp_path, environment="test")
    org = _org()
    with pytest.raises(OrganisationKeyUnavailableError, match="provision-keys"):
        keyring.generate_data_key(org)
    keyring.provision(org)
    assert keyring.provision(org).state is KeyState.ENABLED  # idempotent
    assert (tmp_path / f"{org}.key").stat().st_mode & 0o077 == 0
    assert str(tmp_path / f"{org}.key") not in repr(keyring) and "key=" not in repr(keyring)


def test_local_organisation_keyring_other_organisations_wrapped_key_refused(tmp_path: Path) -> None:
    keyring = LocalOrganisationKeyring(tmp_path, environment="test")
    org_a, org_b = _org(), _org()
    keyring.provision(org_a)
    keyring.provision(org_b)
    _, wrapped = keyring.generate_data_key(org_a)
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(org_b, wrapped)


class _EveryKeyIdStore(InMemoryWrappedKeyStore):
    """Answers any key id with the owner's one wrapped key: a second data key of the owner, not cached yet."""

    def get(self, owner: str, key_id: bytes) -> Any:
        return self.current(owner)


def test_cipher_organisation_key_unavailable_forgets_every_cached_key_of_that_organisation(tmp_path: Path) -> None:
    from runtime.envelope import format as fmt

    org, other = _org(), _org()
    keyring = LocalOrganisationKeyring(tmp_path, environment=ENV)
    keyring.provision(org)
    keyring.provision(other)
    cipher = EnvelopeCipher(keyring=keyring, store=_EveryKeyIdStore(), cache=DataKeyCache(CacheLimits(3600)))
    cached = cipher.encrypt(b"cached", **_where(org))
    theirs = cipher.encrypt(b"other", **_where(other))
    assert cipher.decrypt(cached, **_where(org)) == b"cached"  # its data key is cached now
    (tmp_path / f"{org}.key").unlink()  # the organisation's key is gone (a BYOK key disabled, revoked)
    assert cipher.decrypt(cached, **_where(org)) == b"cached"  # still cached: within the max age
    uncached = cached[: fmt.KEY_ID_AT] + b"\x01" * fmt.KEY_ID_BYTES + cached[fmt.SALT_AT:]
    with pytest.raises(OrganisationKeyUnavailableError):
        cipher.decrypt(uncached, **_where(org))  # a key the cache does not hold: the keyring refuses it
    # From then on nothing of that organisation is served from the cache either (no partial answers) ...
    with pytest.raises(OrganisationKeyUnavailableError):
        cipher.decrypt(cached, **_where(org))
    with pytest.raises(OrganisationKeyUnavailableError):
        cipher.encrypt(b"new", **_where(org))
    assert cipher.decrypt(theirs, **_where(other)) == b"other"  # ... while another organisation's still is
