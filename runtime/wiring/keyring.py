"""Which keyring a process uses, with the guards the service and every job command share.

Two modes (KEYRING_MODE, runtime/settings.py):
- per-organisation (the default; P6, P10): each organisation's data keys are wrapped under its OWN key, so
  erasure can destroy that key and with it every copy of the organisation's data:
  - its KMS key, found by alias alias/<APP_NAME>-<ENVIRONMENT>-org-<id> (APP_NAME set; deployed environments), or
  - a local key file per organisation in LOCAL_ORGANISATION_KEYS_DIR (local runs and tests only);
- shared: the environment's one key wraps every organisation's data keys, so a restored backup still decrypts
  after an erasure. Only where config asks for it, and NEVER in prod:
  - the environment's KMS application key (KMS_APPLICATION_KEY_ID), or
  - the local keyring (LOCAL_MASTER_KEY or LOCAL_MASTER_KEY_FILE), local runs and tests only.

Guards (`refuse_unsafe_keyring`): one source per mode (a process given two would silently use one of them, so it
refuses to start instead); local keys only in `local`/`test`; shared refused in prod. With KEYRING_MODE unset, a
process given a per-organisation source uses it; one given only a shared key uses it outside prod (a warning:
set KEYRING_MODE=shared to say so) and refuses to start in prod. In per-organisation mode a shared key may still
be set: `org migrate-keys` reads the old wrapped keys with it (`KeyringChoice.shared_keyring`).

Names: runtime/settings.py. `choose_keyring` reads and checks the settings (no client, no network);
`KeyringChoice.keyring(clients)` builds the keyring when the process needs it.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from runtime import settings
from runtime.envelope import (
    AwsKmsKeyring,
    Keyring,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
    LocalKeyring,
    LocalOrganisationKeyring,
    OrganisationKeyAdmin,
)
from runtime.envelope.keyrings.organisation import CustomerKeys
from runtime.environment import required, text
from runtime.errors import ConfigurationError
from runtime.wiring.clients import ClientFactory, aws_client

LOCAL_KEYRING_ENVIRONMENTS: Final = ("local", "test")
PER_ORGANISATION: Final = "per-organisation"
SHARED: Final = "shared"
MODES: Final = (PER_ORGANISATION, SHARED)
PROD: Final = "prod"
_LOCAL_KEY: Final = f"{settings.LOCAL_MASTER_KEY} / {settings.LOCAL_MASTER_KEY_FILE}"
log = logging.getLogger("platform.keyring")


@dataclass(frozen=True, slots=True)
class KeyringChoice:
    """The keyring the settings name, checked: per organisation (app or organisation_keys_dir) or shared
    (kms_key_id or local), local ones only where allowed, shared never in prod."""

    environment: str
    kms_key_id: str | None = None
    local: LocalKeyring | None = field(default=None, repr=False)
    app: str | None = None
    organisation_keys_dir: Path | None = None

    def __post_init__(self) -> None:
        refuse_unsafe_keyring(self.environment, kms=bool(self.kms_key_id), local=self.local is not None,
                              organisation_kms=bool(self.app),
                              organisation_local=self.organisation_keys_dir is not None)

    @property
    def mode(self) -> str:
        return PER_ORGANISATION if self.app or self.organisation_keys_dir is not None else SHARED

    def keyring(self, clients: ClientFactory = aws_client, customer_keys: CustomerKeys | None = None) -> Keyring:
        """`customer_keys`: the look-up of organisations' own keys (BYOK; runtime.db.organisation_keys)."""
        if self.app:
            return KmsOrganisationKeyring(client=clients("kms"), app=self.app, environment=self.environment,
                                          customer_keys=customer_keys)
        if self.organisation_keys_dir is not None:
            return LocalOrganisationKeyring(self.organisation_keys_dir, environment=self.environment)
        return self.shared_keyring(clients)

    def shared_keyring(self, clients: ClientFactory = aws_client) -> Keyring:
        """The environment's shared key (the old one, for `org migrate-keys`); ConfigurationError if none is set."""
        if self.kms_key_id:
            return AwsKmsKeyring(client=clients("kms"), key_id=self.kms_key_id, environment=self.environment)
        if self.local is None:
            raise ConfigurationError(
                f"no shared key is set: {settings.KMS_APPLICATION_KEY_ID} (deployed) or {_LOCAL_KEY} (local)"
            )
        return self.local

    def organisation_keys(self, environ: Mapping[str, str], clients: ClientFactory = aws_client,
                          customer_keys: CustomerKeys | None = None) -> OrganisationKeyAdmin | None:
        """The administration of organisation keys (provisioning, deletion), or None in shared mode."""
        if self.app:
            users = [a.strip() for a in text(environ, settings.ORGANISATION_KEY_USER_ROLE_ARNS).split(",")
                     if a.strip()]
            admin = text(environ, settings.ORGANISATION_KEY_ADMIN_ROLE_ARN)
            account = admin.split(":")[4] if admin.count(":") >= 5 else ""
            return KmsOrganisationKeys(client=clients("kms"), app=self.app, environment=self.environment,
                                       account=account, user_role_arns=users, admin_role_arn=admin,
                                       customer_keys=customer_keys)
        if self.organisation_keys_dir is not None:
            return LocalOrganisationKeyring(self.organisation_keys_dir, environment=self.environment)
        return None


def choose_keyring(environ: Mapping[str, str], environment: str | None = None) -> KeyringChoice:
    """The keyring the settings name, checked before any key is read. `environment` defaults to ENVIRONMENT's."""
    if environment is None:
        environment = required(environ, settings.ENVIRONMENT, "dev, qa, prod, local or test (the service stack "
                               "sets it on every task)")
    mode = text(environ, settings.KEYRING_MODE).lower()
    if mode and mode not in MODES:
        raise ConfigurationError(f"{settings.KEYRING_MODE}={mode!r} is not a keyring mode; set "
                                 f"{' or '.join(MODES)} (default {settings.DEFAULT_KEYRING_MODE})")
    kms_key_id = text(environ, settings.KMS_APPLICATION_KEY_ID) or None
    local_set = bool(text(environ, settings.LOCAL_MASTER_KEY) or text(environ, settings.LOCAL_MASTER_KEY_FILE))
    app = text(environ, settings.APP_NAME) or None
    directory = text(environ, settings.LOCAL_ORGANISATION_KEYS_DIR)
    per_org = bool(app or directory)
    if not mode:
        if per_org or not (kms_key_id or local_set) or environment == PROD:
            mode = settings.DEFAULT_KEYRING_MODE if per_org else SHARED  # prod: refused as shared, below
        else:
            log.warning("keyring: only a shared key is set, so every organisation's data keys are wrapped under "
                        "it; set %s=%s to say so, or %s for per-organisation keys", settings.KEYRING_MODE, SHARED,
                        settings.APP_NAME)
            mode = SHARED
    if mode == SHARED:
        refuse_unsafe_keyring(environment, kms=bool(kms_key_id), local=local_set)
        local = None if kms_key_id else LocalKeyring.from_environment(environ, environment=environment)
        return KeyringChoice(environment, kms_key_id=kms_key_id, local=local)
    refuse_unsafe_keyring(environment, kms=bool(kms_key_id), local=local_set, organisation_kms=bool(app),
                          organisation_local=bool(directory))
    # A shared key next to per-organisation keys is the old one: `org migrate-keys` unwraps with it.
    local = LocalKeyring.from_environment(environ, environment=environment) if local_set and not kms_key_id else None
    return KeyringChoice(environment, kms_key_id=kms_key_id, local=local, app=app,
                         organisation_keys_dir=Path(directory) if directory else None)


def refuse_unsafe_keyring(environment: str, *, kms: bool, local: bool, organisation_kms: bool = False,
                          organisation_local: bool = False) -> None:
    """The guards: one source per mode, local keys only in local runs and tests, shared never in prod.
    Raises ConfigurationError."""
    if organisation_kms or organisation_local:
        if organisation_kms and organisation_local:
            raise ConfigurationError(
                f"set {settings.APP_NAME} (KMS organisation keys) or {settings.LOCAL_ORGANISATION_KEYS_DIR} (local "
                "organisation keys), not both: a process uses exactly one keyring"
            )
        if organisation_local and environment not in LOCAL_KEYRING_ENVIRONMENTS:
            raise ConfigurationError(
                f"local organisation keys are for local runs and tests only ({settings.ENVIRONMENT} "
                f"{' or '.join(LOCAL_KEYRING_ENVIRONMENTS)}); environment {environment!r} must use "
                f"{settings.APP_NAME} (KMS organisation keys) and leave {settings.LOCAL_ORGANISATION_KEYS_DIR} unset"
            )
        if kms and local:
            raise ConfigurationError(
                f"set {settings.KMS_APPLICATION_KEY_ID} (KMS) or a local master key ({_LOCAL_KEY}) as the old shared "
                "key, not both: unset the one this environment does not use"
            )
        if local and environment not in LOCAL_KEYRING_ENVIRONMENTS:
            raise ConfigurationError(
                f"the local keyring is for local runs and tests only ({settings.ENVIRONMENT} "
                f"{' or '.join(LOCAL_KEYRING_ENVIRONMENTS)}); environment {environment!r} must leave {_LOCAL_KEY} unset"
            )
        return
    if kms and local:
        raise ConfigurationError(
            f"set {settings.KMS_APPLICATION_KEY_ID} (KMS) or a local master key ({_LOCAL_KEY}), not both: a "
            "process uses exactly one keyring; unset the one this environment does not use"
        )
    if not kms and not local:
        raise ConfigurationError(
            f"this process needs a keyring: {settings.APP_NAME} (per-organisation KMS keys; the service stack "
            f"sets it on the tasks), or for a local run or test {settings.LOCAL_ORGANISATION_KEYS_DIR}; a shared "
            f"key ({settings.KMS_APPLICATION_KEY_ID}, or {_LOCAL_KEY}) only with {settings.KEYRING_MODE}={SHARED}"
        )
    if local and environment not in LOCAL_KEYRING_ENVIRONMENTS:
        raise ConfigurationError(
            f"the local keyring is for local runs and tests only ({settings.ENVIRONMENT} "
            f"{' or '.join(LOCAL_KEYRING_ENVIRONMENTS)}); environment {environment!r} must use "
            f"{settings.KMS_APPLICATION_KEY_ID} and leave {_LOCAL_KEY} unset"
        )
    if environment == PROD:
        raise ConfigurationError(
            f"a shared key ({settings.KMS_APPLICATION_KEY_ID}) is refused in prod: erased organisations would stay "
            f"readable in restored backups (P10); set {settings.APP_NAME} for per-organisation keys (their aliases "
            f"are alias/<app>-{environment}-org-<id>), and {settings.KEYRING_MODE}={SHARED} never"
        )
