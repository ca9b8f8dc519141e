"""Which keyring a process uses, with the guards the service and every job command share:

- the environment's KMS application key (KMS_APPLICATION_KEY_ID; the service stack sets it on the tasks), or
- the local keyring (LOCAL_MASTER_KEY or LOCAL_MASTER_KEY_FILE), for local runs and tests only (ENVIRONMENT
  local or test): a master key in a variable or a file must never protect a deployed environment's data;
- never both: a process given both would silently use one of them, so it refuses to start instead.

Names: runtime/settings.py. `choose_keyring` reads and checks the settings (no client, no network);
`KeyringChoice.keyring(clients)` builds the keyring when the process needs it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from runtime import settings
from runtime.envelope import AwsKmsKeyring, Keyring, LocalKeyring
from runtime.environment import required, text
from runtime.errors import ConfigurationError
from runtime.wiring.clients import ClientFactory, aws_client

LOCAL_KEYRING_ENVIRONMENTS: Final = ("local", "test")
_LOCAL_KEY: Final = f"{settings.LOCAL_MASTER_KEY} / {settings.LOCAL_MASTER_KEY_FILE}"


@dataclass(frozen=True, slots=True)
class KeyringChoice:
    """Exactly one of the KMS key and the local keyring, the local one only where it is allowed."""

    environment: str
    kms_key_id: str | None = None
    local: LocalKeyring | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        refuse_unsafe_keyring(self.environment, kms=bool(self.kms_key_id), local=self.local is not None)

    def keyring(self, clients: ClientFactory = aws_client) -> Keyring:
        if self.kms_key_id:
            return AwsKmsKeyring(client=clients("kms"), key_id=self.kms_key_id, environment=self.environment)
        assert self.local is not None  # __post_init__: one of the two
        return self.local


def choose_keyring(environ: Mapping[str, str], environment: str | None = None) -> KeyringChoice:
    """The keyring the settings name, checked before any key is read. `environment` defaults to ENVIRONMENT's."""
    if environment is None:
        environment = required(environ, settings.ENVIRONMENT, "dev, qa, prod, local or test (the service stack "
                               "sets it on every task)")
    kms_key_id = text(environ, settings.KMS_APPLICATION_KEY_ID)
    local = bool(text(environ, settings.LOCAL_MASTER_KEY) or text(environ, settings.LOCAL_MASTER_KEY_FILE))
    refuse_unsafe_keyring(environment, kms=bool(kms_key_id), local=local)
    if kms_key_id:
        return KeyringChoice(environment, kms_key_id=kms_key_id)
    return KeyringChoice(environment, local=LocalKeyring.from_environment(environ, environment=environment))


def refuse_unsafe_keyring(environment: str, *, kms: bool, local: bool) -> None:
    """The guards: one keyring, and the local one only in local runs and tests. Raises ConfigurationError."""
    if kms and local:
        raise ConfigurationError(
            f"set {settings.KMS_APPLICATION_KEY_ID} (KMS) or a local master key ({_LOCAL_KEY}), not both: a "
            "process uses exactly one keyring; unset the one this environment does not use"
        )
    if not kms and not local:
        raise ConfigurationError(
            f"this process needs a keyring: {settings.KMS_APPLICATION_KEY_ID} (the service stack sets it on the "
            f"tasks), or for a local run or test {_LOCAL_KEY}"
        )
    if local and environment not in LOCAL_KEYRING_ENVIRONMENTS:
        raise ConfigurationError(
            f"the local keyring is for local runs and tests only ({settings.ENVIRONMENT} "
            f"{' or '.join(LOCAL_KEYRING_ENVIRONMENTS)}); environment {environment!r} must use "
            f"{settings.KMS_APPLICATION_KEY_ID} and leave {_LOCAL_KEY} unset"
        )
