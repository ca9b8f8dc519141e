"""Envelope encryption of sensitive fields (P6) with per-owner data keys (P10 crypto-shredding)."""

from runtime.envelope.cache import CacheLimits, CacheStats, DataKeyCache
from runtime.envelope.cipher import EnvelopeCipher, EnvelopeStats
from runtime.envelope.keyrings import (
    AwsKmsKeyring,
    Keyring,
    KeyState,
    KeyStatus,
    KmsOrganisationKeyring,
    KmsOrganisationKeys,
    LocalKeyring,
    LocalOrganisationKeyring,
    OrganisationKeyAdmin,
    OrganisationKeyUnavailableError,
)
from runtime.envelope.keys import DataKey, KeyMaterial
from runtime.envelope.store import InMemoryWrappedKeyStore, StoredKey, WrappedKeyStore

__all__ = [
    "AwsKmsKeyring",
    "CacheLimits",
    "CacheStats",
    "DataKey",
    "DataKeyCache",
    "EnvelopeCipher",
    "EnvelopeStats",
    "InMemoryWrappedKeyStore",
    "KeyMaterial",
    "KeyState",
    "KeyStatus",
    "Keyring",
    "KmsOrganisationKeyring",
    "KmsOrganisationKeys",
    "LocalKeyring",
    "LocalOrganisationKeyring",
    "OrganisationKeyAdmin",
    "OrganisationKeyUnavailableError",
    "StoredKey",
    "WrappedKeyStore",
]
