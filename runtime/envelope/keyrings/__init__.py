"""Keyrings: where data keys come from (AWS KMS in deployed environments, a local key in development)."""

from runtime.envelope.keyrings.aws_kms import AwsKmsKeyring
from runtime.envelope.keyrings.base import PURPOSE, Keyring, encryption_context
from runtime.envelope.keyrings.local import LocalKeyring
from runtime.envelope.keyrings.organisation import (
    KeyState,
    KeyStatus,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
    LocalOrganisationKeyring,
    OrganisationKeyAdmin,
    OrganisationKeyUnavailableError,
    organisation_encryption_context,
    organisation_key_alias,
)

__all__ = [
    "PURPOSE",
    "AwsKmsKeyring",
    "KeyState",
    "KeyStatus",
    "Keyring",
    "KmsOrganisationKeyring",
    "KmsOrganisationKeys",
    "LocalKeyring",
    "LocalOrganisationKeyring",
    "OrganisationKeyAdmin",
    "OrganisationKeyUnavailableError",
    "encryption_context",
    "organisation_encryption_context",
    "organisation_key_alias",
]
