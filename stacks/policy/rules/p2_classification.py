"""P2: every data store says what it holds, sensitive or not."""

from __future__ import annotations

from collections.abc import Iterator

from runtime.contract import CLASSIFICATION_TAG, DataClass
from stacks.policy.rules.base import AssemblyView, Result, Rule

ALLOWED_CLASSES = tuple(data_class.value for data_class in DataClass)
DATA_STORE_TYPES = (
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::Backup::BackupVault",
    "AWS::SecretsManager::Secret",
    "AWS::EFS::FileSystem",
    "AWS::Kinesis::Stream",
)


class DataStoresClassified(Rule):
    id = "P2-DataStoresClassified"
    promises = ("P2",)
    title = f"Every data store carries a '{CLASSIFICATION_TAG}' tag of {' or '.join(ALLOWED_CLASSES)}"
    explanation = (
        "Classification decides where data may go (P7) and what support may read (P4). An unclassified store "
        "would be treated as SENSITIVE at run time but could not be checked here."
    )

    def evaluate(self, view: AssemblyView) -> Iterator[Result]:
        for env in view.environments:
            for store in view.resources(env, *DATA_STORE_TYPES):
                value = store.tags.get(CLASSIFICATION_TAG)
                yield self.result(
                    store,
                    value in ALLOWED_CLASSES,
                    f"{CLASSIFICATION_TAG}={value}" if value else f"no {CLASSIFICATION_TAG} tag",
                )
