"""Envelope encryption of sensitive fields (P6) with per-owner data keys (P10 crypto-shredding)."""

from runtime.envelope.cache import CacheLimits, CacheStats, DataKeyCache
from runtime.envelope.cipher import EnvelopeCipher, EnvelopeStats
from runtime.envelope.keyrings import AwsKmsKeyring, Keyring, LocalKeyring
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
    "Keyring",
    "LocalKeyring",
    "StoredKey",
    "WrappedKeyStore",
]
