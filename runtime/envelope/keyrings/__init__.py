"""Keyrings: where data keys come from (AWS KMS in deployed environments, a local key in development)."""

from runtime.envelope.keyrings.aws_kms import AwsKmsKeyring
from runtime.envelope.keyrings.base import PURPOSE, Keyring, encryption_context
from runtime.envelope.keyrings.local import LocalKeyring

__all__ = ["PURPOSE", "AwsKmsKeyring", "Keyring", "LocalKeyring", "encryption_context"]
