"""Fixtures for the runtime tests: keyrings, stores and ciphers, plus a moto KMS."""

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.envelope import EnvelopeCipher, InMemoryWrappedKeyStore, KeyMaterial, LocalKeyring

REGION = "eu-west-1"


@pytest.fixture
def local_keyring() -> LocalKeyring:
    return LocalKeyring(KeyMaterial(os.urandom(32)), environment="dev")


@pytest.fixture
def store() -> InMemoryWrappedKeyStore:
    return InMemoryWrappedKeyStore()


@pytest.fixture
def cipher(local_keyring: LocalKeyring, store: InMemoryWrappedKeyStore) -> EnvelopeCipher:
    return EnvelopeCipher(keyring=local_keyring, store=store)


@pytest.fixture
def kms_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


@pytest.fixture
def kms_key_id(kms_client: Any) -> str:
    return str(kms_client.create_key(Description="application key")["KeyMetadata"]["Arn"])
