"""P6: every store is encrypted with a customer-managed key of its own environment, rotation on.

Every KMS key of the environment has rotation on, whether a store names it or not, except an asymmetric
signing key (KeySpec other than SYMMETRIC_DEFAULT, KeyUsage SIGN_VERIFY: the erasure receipts' key, P10),
which KMS cannot rotate: it encrypts nothing, and a new key is a new key id that new receipts name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stacks.policy.rules.base import AssemblyView, Resource, Result, Rule

# Where each encryptable resource type names its key (dotted path; digits index lists).
KEY_PROPERTIES = {
    "AWS::RDS::DBCluster": "KmsKeyId",
    "AWS::RDS::DBInstance": "PerformanceInsightsKMSKeyId",
    "AWS::S3::Bucket": (
        "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.KMSMasterKeyID"
    ),
    "AWS::Logs::LogGroup": "KmsKeyId",
    "AWS::SNS::Topic": "KmsMasterKeyId",
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::SecretsManager::Secret": "KmsKeyId",
    "AWS::Backup::BackupVault": "EncryptionKeyArn",
    "AWS::CloudTrail::Trail": "KMSKeyId",
    "AWS::ECS::Cluster": "Configuration.ManagedStorageConfiguration.FargateEphemeralStorageKmsKeyId",
    "AWS::DynamoDB::Table": "SSESpecification.KMSMasterKeyId",
    "AWS::EFS::FileSystem": "KmsKeyId",
    "AWS::Kinesis::Stream": "StreamEncryption.KeyId",
}
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/.+$")


def dig(properties: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(properties, list) and part.isdigit() and int(part) < len(properties):
            properties = properties[int(part)]
        elif isinstance(properties, dict):
            properties = properties.get(part)
        else:
            return None
    return properties


def is_signing_key(key: Resource) -> bool:
    """An asymmetric SIGN_VERIFY key (KMS rotates symmetric encryption keys only)."""
    spec = key.properties.get("KeySpec", "SYMMETRIC_DEFAULT")
    return spec != "SYMMETRIC_DEFAULT" and key.properties.get("KeyUsage") == "SIGN_VERIFY"


class CustomerManagedKeys(Rule):
    id = "P6-CustomerManagedKeys"
    promises = ("P6",)
    title = "Every encryptable store uses a customer-managed KMS key of its own environment, with rotation on"
    explanation = (
        "AES-256 at rest under the environment's own keys: a store with no key (AWS-owned or AWS-managed "
        "encryption), a key of another environment, or a key without rotation breaks P6 (and P10's crypto-"
        "shredding, which relies on keys the operator controls)."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            config = view.env_config(env)
            for store in view.resources(env, *KEY_PROPERTIES):
                if store.type == "AWS::RDS::DBInstance" and not store.properties.get("EnablePerformanceInsights"):
                    yield self.result(store, None, "no Performance Insights data to encrypt")
                    continue
                reference = dig(store.properties, KEY_PROPERTIES[store.type])
                yield self._check(view, store, reference, config.account if config else None)
            for key in view.resources(env, "AWS::KMS::Key"):
                yield self._rotation(key)

    def _rotation(self, key: Resource) -> Result:
        if is_signing_key(key):
            spec = key.properties.get("KeySpec")
            return self.result(key, True, f"asymmetric signing key ({spec}, SIGN_VERIFY): KMS cannot rotate it, "
                               "and it encrypts nothing")
        rotation = key.properties.get("EnableKeyRotation") is True
        return self.result(key, rotation, f"KMS key, rotation {'on' if rotation else 'OFF'}")

    def _check(self, view: AssemblyView, store: Resource, reference: Any, account: str | None) -> Result:
        if reference is None:
            return self.result(store, False, "no customer-managed key (AWS-owned or AWS-managed encryption)")
        if isinstance(reference, str):
            match = _KEY_ARN.match(reference)
            if match is None:
                return self.result(store, False, f"key {reference!r} is not a customer-managed key ARN")
            own = account is None or match["account"] == account
            return self.result(store, own, f"existing key in account {match['account']} (rotation is its owner's)")
        key = view.resolve(store.environment, store.template_path, reference)
        if key is None or key.type != "AWS::KMS::Key":
            return self.result(store, False, "its key is not a KMS key of this environment")
        if is_signing_key(key):
            return self.result(store, False, f"{key.path} is a signing key: it cannot encrypt a store")
        rotation = key.properties.get("EnableKeyRotation") is True
        return self.result(store, rotation, f"{key.path}, rotation {'on' if rotation else 'OFF'}")
