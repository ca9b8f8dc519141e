"""Keyrings per organisation (P6, P10): each organisation's data keys are wrapped under THAT organisation's own
key-encryption key, so destroying that one key makes every copy of its data unreadable (restored backups,
snapshots, dumps), while every other organisation's data stays readable.

- `KmsOrganisationKeyring`: the organisation's KMS key, found by its alias `alias/<app>-<env>-org-<id>`
  (`organisation_key_alias`); the encryption context binds environment, purpose AND organisation, and the
  key's policy (`organisation_key_policy`) admits the runtime roles only with that organisation's context.
- `LocalOrganisationKeyring`: the emulation for local runs and tests: a directory of key files, one per
  organisation, OUTSIDE the database; deleting the organisation's file is destroying its key.

Both also administer the keys (`OrganisationKeyAdmin`): `provision` (a control-plane step, never on the
request path), `state`, `schedule_deletion` (erasure) and `cancel_deletion` (an audited admin command).
A missing, disabled, pending-deletion or refused key is one typed error, `OrganisationKeyUnavailableError`,
which the service answers with 503 `organisation-key-unavailable`.
"""

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runtime.bounds import KEY_DELETION_PENDING_DAYS
from runtime.envelope.keyrings.aws_kms import NOT_OURS, THROTTLED, UNAVAILABLE, error_code
from runtime.envelope.keyrings.base import PURPOSE, Keyring
from runtime.envelope.keys import KEY_BYTES, KeyMaterial
from runtime.errors import (
    ConfigurationError,
    DecryptionError,
    KmsError,
    KmsKeyUnavailableError,
    KmsThrottledError,
)

ALIAS_PREFIX: Final = "alias/"
# KMS's own bounds for ScheduleKeyDeletion's PendingWindowInDays.
MIN_PENDING_DAYS: Final = KEY_DELETION_PENDING_DAYS.minimum
MAX_PENDING_DAYS: Final = KEY_DELETION_PENDING_DAYS.maximum
TAG_ENVIRONMENT: Final = "platform:environment"
TAG_APP: Final = "platform:app"
TAG_ORGANISATION: Final = "platform:organisation"
CONTEXT_ORGANISATION: Final = "organisation"

# An organisation's key that denies us was revoked (BYOK) or not provisioned: unavailable, like a disabled one.
_UNAVAILABLE = UNAVAILABLE | {"AccessDeniedException", "AccessDenied"}
_WRAP_VERSION = b"\x02"
_NONCE_BYTES = 12


class OrganisationKeyUnavailableError(KmsKeyUnavailableError):
    """The organisation's own key cannot be used: not provisioned yet, disabled, revoked (access denied),
    pending deletion or destroyed. Nothing of the organisation can be written or read until it is fixed."""

    def __init__(self, message: str, *, organisation: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.organisation = organisation


class KeyState(Enum):
    MISSING = "missing"  # never provisioned, or destroyed
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_DELETION = "pending-deletion"
    UNAVAILABLE = "unavailable"  # any other KMS state (pending import, unavailable, ...)


@dataclass(frozen=True, slots=True)
class KeyStatus:
    organisation: str
    state: KeyState
    key_id: str | None = None
    deletion_date: datetime | None = None


# An organisation's own key (BYOK): its ARN, or None when a key of this environment wraps its data keys
# (runtime.db.organisation_keys.PostgresCustomerKeys).
CustomerKeys = Callable[[str], str | None]


class OrganisationKeyAdmin(Protocol):
    """The control-plane side of per-organisation keys (runtime.cli.org, runtime.lifecycle.erasure)."""

    def provision(self, organisation: str) -> KeyStatus:
        """Create the organisation's key if it has none (idempotent); its status."""
        ...

    def state(self, organisation: str) -> KeyStatus: ...

    def schedule_deletion(self, organisation: str, pending_days: int) -> KeyStatus:
        """Destroy the organisation's key after `pending_days` (locally: at once). Idempotent."""
        ...

    def cancel_deletion(self, organisation: str) -> KeyStatus: ...

    def customer_key(self, organisation: str) -> str | None:
        """The ARN of the organisation's own key (BYOK), or None: a key this environment administers."""
        ...


def organisation_encryption_context(environment: str, organisation: str) -> dict[str, str]:
    """What a data key wrapped under an organisation key is bound to; the key policy conditions on
    `kms:EncryptionContext:organisation` and `kms:EncryptionContext:environment`."""
    return {"environment": environment, CONTEXT_ORGANISATION: organisation, "purpose": PURPOSE}


def organisation_key_alias(app: str, environment: str, organisation: str) -> str:
    return f"{ALIAS_PREFIX}{app}-{environment}-org-{organisation_id(organisation)}"


def check_pending_days(days: int) -> int:
    if type(days) is not int or not MIN_PENDING_DAYS <= days <= MAX_PENDING_DAYS:
        raise ConfigurationError(
            f"the key deletion pending window must be {MIN_PENDING_DAYS} to {MAX_PENDING_DAYS} days (KMS's "
            f"range); got {days!r}"
        )
    return days


def organisation_id(organisation: str) -> str:
    """Organisation ids are UUIDs: anything else never names a key (no path or alias injection)."""
    try:
        return str(uuid.UUID(organisation))
    except (ValueError, TypeError, AttributeError):
        raise ConfigurationError("an organisation id must be a UUID") from None


def organisation_key_policy(*, account: str, environment: str, organisation: str, user_role_arns: Sequence[str],
                            admin_role_arn: str) -> dict[str, Any]:
    """The key policy of an organisation key: the runtime roles may generate and decrypt data keys only with
    this environment's and this organisation's encryption context; the admin role manages the key (no crypto).
    No account-root statement: IAM policies alone never open the key."""
    if not user_role_arns or not admin_role_arn:
        raise ConfigurationError("an organisation key policy needs the runtime role ARNs and the admin role ARN")
    org = organisation_id(organisation)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RuntimeRolesUseWithTheOrganisationContext",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(user_role_arns)},
                # Encrypt: `org migrate-keys` re-wraps existing data keys (with this context only)
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    f"kms:EncryptionContext:{CONTEXT_ORGANISATION}": org,
                    "kms:EncryptionContext:environment": environment,
                    "kms:EncryptionContext:purpose": PURPOSE,
                }},
            },
            {
                "Sid": "ControlPlaneAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": admin_role_arn},
                "Action": [
                    "kms:DescribeKey", "kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:TagResource",
                    "kms:EnableKeyRotation", "kms:GetKeyRotationStatus", "kms:EnableKey", "kms:DisableKey",
                    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            },
        ],
    }


# --- AWS KMS ------------------------------------------------------------------------------------------------


class KmsOrganisationKeyring(Keyring):
    """Data keys under the organisation's own KMS key: the ARN it registered (BYOK, `customer_keys`), else this
    environment's key by alias. `client` is a boto3 `kms` client."""

    def __init__(self, *, client: Any, app: str, environment: str, customer_keys: CustomerKeys | None = None
                 ) -> None:
        super().__init__(environment=environment)
        if not app:
            raise ConfigurationError("the per-organisation KMS keyring needs the app name (PLATFORM_APP_NAME)")
        self._client = client
        self.app = app
        self._customer_keys = customer_keys

    def __repr__(self) -> str:
        return f"KmsOrganisationKeyring(app={self.app!r}, environment={self.environment!r})"

    def alias(self, organisation: str) -> str:
        """The key that wraps the organisation's data keys: its own ARN (BYOK) or this environment's alias."""
        customer = self._customer_keys(organisation) if self._customer_keys is not None else None
        return customer or organisation_key_alias(self.app, self.environment, organisation)

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        alias = self.alias(owner)
        self._count_call()
        try:
            response = self._client.generate_data_key(
                KeyId=alias, KeySpec="AES_256",
                EncryptionContext=organisation_encryption_context(self.environment, owner),
            )
        except Exception as exc:
            raise _translate(exc, "GenerateDataKey", owner, alias) from exc
        return _material(response, alias), bytes(response["CiphertextBlob"])

    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial:
        alias = self.alias(owner)
        self._count_call()
        try:
            response = self._client.decrypt(
                CiphertextBlob=wrapped, KeyId=alias,  # refuse blobs wrapped under any other key
                EncryptionContext=organisation_encryption_context(self.environment, owner),
            )
        except Exception as exc:
            if error_code(exc) in NOT_OURS:
                raise DecryptionError() from None
            raise _translate(exc, "Decrypt", owner, alias) from exc
        return _material(response, alias)

    def wrap_data_key(self, owner: str, material: KeyMaterial) -> bytes:
        """Wrap an EXISTING data key under the organisation's key (`org migrate-keys`: kms:Encrypt)."""
        alias = self.alias(owner)
        self._count_call()
        try:
            response = self._client.encrypt(
                KeyId=alias, Plaintext=material.secret_bytes(),
                EncryptionContext=organisation_encryption_context(self.environment, owner),
            )
        except Exception as exc:
            raise _translate(exc, "Encrypt", owner, alias) from exc
        return bytes(response["CiphertextBlob"])


class KmsOrganisationKeys:
    """Creates, inspects and destroys organisation keys (the control plane; `org provision-keys`, erasure)."""

    def __init__(self, *, client: Any, app: str, environment: str, account: str = "",
                 user_role_arns: Sequence[str] = (), admin_role_arn: str = "",
                 customer_keys: CustomerKeys | None = None) -> None:
        self._client = client
        self.app = app
        self.environment = environment
        self._account = account
        self._users = tuple(user_role_arns)
        self._admin = admin_role_arn
        self._customer_keys = customer_keys

    def __repr__(self) -> str:
        return f"KmsOrganisationKeys(app={self.app!r}, environment={self.environment!r})"

    @property
    def user_role_arns(self) -> tuple[str, ...]:
        return self._users

    def alias(self, organisation: str) -> str:
        return organisation_key_alias(self.app, self.environment, organisation)

    def customer_key(self, organisation: str) -> str | None:
        """The organisation's own key's ARN (BYOK), or None."""
        return self._customer_keys(organisation) if self._customer_keys is not None else None

    def state(self, organisation: str) -> KeyStatus:
        org = organisation_id(organisation)
        key = self.customer_key(org) or self.alias(org)
        try:
            meta = self._client.describe_key(KeyId=key)["KeyMetadata"]
        except Exception as exc:
            if error_code(exc) == "NotFoundException":
                return KeyStatus(org, KeyState.MISSING)
            if error_code(exc) in _UNAVAILABLE and key != self.alias(org):  # the customer revoked our access
                return KeyStatus(org, KeyState.UNAVAILABLE, key)
            raise _translate(exc, "DescribeKey", org, key) from exc
        states = {"Enabled": KeyState.ENABLED, "Disabled": KeyState.DISABLED,
                  "PendingDeletion": KeyState.PENDING_DELETION}
        return KeyStatus(org, states.get(str(meta.get("KeyState")), KeyState.UNAVAILABLE), str(meta["KeyId"]),
                         meta.get("DeletionDate"))

    def provision(self, organisation: str) -> KeyStatus:
        org = organisation_id(organisation)
        current = self.state(org)
        if current.state is not KeyState.MISSING or self.customer_key(org):
            return current  # idempotent: one key per organisation, never a second; never one next to its own
        policy = organisation_key_policy(account=self._account, environment=self.environment, organisation=org,
                                         user_role_arns=self._users, admin_role_arn=self._admin)
        tags = [{"TagKey": TAG_ENVIRONMENT, "TagValue": self.environment}, {"TagKey": TAG_APP, "TagValue": self.app},
                {"TagKey": TAG_ORGANISATION, "TagValue": org}]
        try:
            created = self._client.create_key(
                Description=f"{self.app} {self.environment}: key-encryption key of organisation {org} (P6, P10)",
                KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT", Policy=json.dumps(policy), Tags=tags,
            )
            key_id = str(created["KeyMetadata"]["KeyId"])
            self._client.enable_key_rotation(KeyId=key_id)
            self._client.create_alias(AliasName=self.alias(org), TargetKeyId=key_id)
        except Exception as exc:
            if error_code(exc) == "AlreadyExistsException":  # a concurrent provisioning won the alias
                return self.state(org)
            raise _translate(exc, "CreateKey", org, self.alias(org)) from exc
        return self.state(org)

    def schedule_deletion(self, organisation: str, pending_days: int) -> KeyStatus:
        days = check_pending_days(pending_days)
        customer = self.customer_key(organisation)
        if customer:
            # KMS schedules deletion only in the key's own account: the organisation destroys its key itself.
            raise OrganisationKeyUnavailableError(
                f"organisation {organisation}'s data keys are wrapped under its own key {customer} (BYOK): the "
                "platform cannot schedule that key's deletion; the organisation deletes it in its account (aws kms "
                "schedule-key-deletion); erasure leaves it and its receipt says customer-held",
                organisation=organisation_id(organisation))
        current = self.state(organisation)
        if current.state in (KeyState.MISSING, KeyState.PENDING_DELETION) or current.key_id is None:
            return current
        try:
            self._client.schedule_key_deletion(KeyId=current.key_id, PendingWindowInDays=days)
        except Exception as exc:
            raise _translate(exc, "ScheduleKeyDeletion", current.organisation, current.key_id) from exc
        return self.state(organisation)

    def cancel_deletion(self, organisation: str) -> KeyStatus:
        current = self.state(organisation)
        if current.state is not KeyState.PENDING_DELETION or current.key_id is None:
            raise OrganisationKeyUnavailableError(
                f"the key of organisation {current.organisation} is {current.state.value}, not pending deletion: "
                "there is no deletion to cancel", organisation=current.organisation)
        try:
            self._client.cancel_key_deletion(KeyId=current.key_id)
            self._client.enable_key(KeyId=current.key_id)  # a cancelled key comes back disabled
        except Exception as exc:
            raise _translate(exc, "CancelKeyDeletion", current.organisation, current.key_id) from exc
        return self.state(organisation)


def _material(response: Mapping[str, Any], key: str) -> KeyMaterial:
    plaintext = response.get("Plaintext")
    if not isinstance(plaintext, bytes) or len(plaintext) != KEY_BYTES:
        raise KmsError(f"KMS returned no 256-bit data key for {key}; check that it is a symmetric key")
    return KeyMaterial(plaintext)


def _translate(exc: Exception, operation: str, organisation: str, key: str) -> KmsError:
    code = error_code(exc)
    if code in THROTTLED:
        return KmsThrottledError(f"KMS throttled {operation} on {key}; retry with backoff", code=code)
    if code in _UNAVAILABLE:
        return OrganisationKeyUnavailableError(
            f"the key of organisation {organisation} ({key}) cannot be used for {operation} ({code}): it is not "
            "provisioned yet (run `python -m runtime org provision-keys`), disabled, revoked, pending deletion "
            "or destroyed", organisation=organisation, code=code)
    if code is not None:
        return KmsError(f"KMS {operation} on {key} failed with {code}", code=code)
    return KmsError(f"KMS {operation} on {key} failed: {type(exc).__name__}; check connectivity to KMS")




# --- local emulation ------------------------------------------------------------------------------------------


class LocalOrganisationKeyring(Keyring):
    """Per-organisation master keys in files `<directory>/<organisation id>.key` (32 random bytes, mode 0600),
    outside the database. Local runs and tests only. The file is read on every wrap and unwrap (the data-key
    cache makes those rare), so deleting it takes effect for every load that follows."""

    def __init__(self, directory: Path, *, environment: str) -> None:
        super().__init__(environment=environment)
        if not directory.is_dir():
            raise ConfigurationError(f"the local organisation key directory {directory} does not exist; create it")
        self.directory = directory

    def __repr__(self) -> str:
        return f"LocalOrganisationKeyring(directory={str(self.directory)!r}, environment={self.environment!r})"

    def _path(self, organisation: str) -> Path:
        return self.directory / f"{organisation_id(organisation)}.key"

    def _aead(self, organisation: str, operation: str) -> AESGCM:
        try:
            raw = self._path(organisation).read_bytes()
        except FileNotFoundError:
            raise OrganisationKeyUnavailableError(
                f"organisation {organisation} has no local key ({operation}): not provisioned yet (run `python -m "
                "runtime org provision-keys`), or destroyed by its erasure", organisation=organisation,
                code="NotFoundException") from None
        if len(raw) != KEY_BYTES:
            raise OrganisationKeyUnavailableError(
                f"the local key file of organisation {organisation} is damaged", organisation=organisation)
        return AESGCM(raw)

    def _context(self, organisation: str) -> bytes:
        return json.dumps(organisation_encryption_context(self.environment, organisation), sort_keys=True).encode()

    def generate_data_key(self, owner: str) -> tuple[KeyMaterial, bytes]:
        aead = self._aead(owner, "GenerateDataKey")
        self._count_call()
        material = KeyMaterial(os.urandom(KEY_BYTES))
        nonce = os.urandom(_NONCE_BYTES)
        return material, _WRAP_VERSION + nonce + aead.encrypt(nonce, material.secret_bytes(), self._context(owner))

    def wrap_data_key(self, owner: str, material: KeyMaterial) -> bytes:
        """Wrap an EXISTING data key under the organisation's key (`org migrate-keys`)."""
        aead = self._aead(owner, "Encrypt")
        self._count_call()
        nonce = os.urandom(_NONCE_BYTES)
        return _WRAP_VERSION + nonce + aead.encrypt(nonce, material.secret_bytes(), self._context(owner))

    def unwrap_data_key(self, owner: str, wrapped: bytes) -> KeyMaterial:
        aead = self._aead(owner, "Decrypt")
        self._count_call()
        if not wrapped.startswith(_WRAP_VERSION):
            raise DecryptionError()
        nonce, sealed = wrapped[1: 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES:]
        try:
            return KeyMaterial(aead.decrypt(nonce, sealed, self._context(owner)))
        except (InvalidTag, ValueError):
            raise DecryptionError() from None

    # --- administration (OrganisationKeyAdmin) ---

    def state(self, organisation: str) -> KeyStatus:
        org = organisation_id(organisation)
        path = self._path(org)
        return KeyStatus(org, KeyState.ENABLED, str(path)) if path.exists() else KeyStatus(org, KeyState.MISSING)

    def provision(self, organisation: str) -> KeyStatus:
        path = self._path(organisation)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.state(organisation)  # idempotent
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(KEY_BYTES))
        return self.state(organisation)

    def schedule_deletion(self, organisation: str, pending_days: int) -> KeyStatus:
        check_pending_days(pending_days)
        path = self._path(organisation)
        if path.exists():
            size = path.stat().st_size
            with path.open("r+b") as out:  # overwrite, then unlink: the emulation's "destroyed"
                out.write(os.urandom(size))
                out.flush()
                os.fsync(out.fileno())
            path.unlink()
        return self.state(organisation)

    def customer_key(self, organisation: str) -> str | None:
        return None  # an organisation's own key is a KMS key; locally every key is the emulation's

    def cancel_deletion(self, organisation: str) -> KeyStatus:
        raise OrganisationKeyUnavailableError(
            f"local organisation keys are destroyed at once by erasure: organisation {organisation}'s key cannot "
            "be restored", organisation=organisation_id(organisation))
