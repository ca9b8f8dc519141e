"""A CloudWatch log group that is always KMS-encrypted with the environment's logs key (P6),
always has a retention, and always carries its data classification (P2)."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS
from stacks.constructs.classification import DataClass, classify

# RetentionDays lists the same periods as LOG_RETENTION_DAYS, in the same order (then INFINITE).
_RETENTION = dict(zip(LOG_RETENTION_DAYS, list(logs.RetentionDays)[: len(LOG_RETENTION_DAYS)], strict=True))


class EncryptedLogGroup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        retention_days: int,
        data_class: DataClass,
        removal_policy: RemovalPolicy,
        log_group_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=log_group_name,
            encryption_key=key,
            retention=_RETENTION[retention_days],
            removal_policy=removal_policy,
        )
        classify(self.log_group, data_class)
