"""The lifecycle job: the task definition that exports, erasures and breach response run as, one-off (P10, P12,
P13). Its role is the only one the exports bucket lets in (a named role, so the bucket policy needs no reference
to the service stack)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from runtime import settings
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.runtime_service import add_runtime_container

CONTAINER_NAME = "job"


@dataclass(frozen=True)
class JobSettings:
    """What the job needs beyond every runtime container's settings: where exports go, whom incidents reach."""

    partition: str
    region: str
    account: str
    exports_bucket_name: str
    exports_key_arn: str
    incident_topic_arn: str
    incident_topic_key_arn: str
    breach_contact: str
    breach_sender: str | None
    longest_backup_retention_days: int

    @property
    def exports_bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.exports_bucket_name}"

    def variables(self) -> dict[str, str]:
        variables = {
            settings.LONGEST_BACKUP_RETENTION_DAYS: str(self.longest_backup_retention_days),
            settings.EXPORTS_BUCKET: self.exports_bucket_name,
            settings.EXPORTS_KMS_KEY_ID: self.exports_key_arn,
            settings.INCIDENT_TOPIC_ARN: self.incident_topic_arn,
            settings.BREACH_CONTACT: self.breach_contact,
        }
        if self.breach_sender:
            variables[settings.BREACH_SENDER] = self.breach_sender
        return variables

    def export_statements(self) -> list[iam.PolicyStatement]:
        bucket_arn = self.exports_bucket_arn
        return [
            iam.PolicyStatement(
                sid="WriteAndPresignExports",
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    # Erasure removes an organisation's exports, every version of them (P10).
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ],
                resources=[f"{bucket_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="ListExports", actions=["s3:ListBucket", "s3:ListBucketVersions"], resources=[bucket_arn]
            ),
            iam.PolicyStatement(
                sid="ExportsKeyThroughS3Only",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.exports_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            ),
        ]

    def download_statements(self) -> list[iam.PolicyStatement]:
        """The data service's part (P13): it reads a complete export's manifest and presigns URLs of its files,
        which act with this role's s3:GetObject and, for the objects' SSE-KMS, kms:Decrypt through S3 only."""
        return [
            iam.PolicyStatement(sid="ReadAndPresignExports", actions=["s3:GetObject"],
                                resources=[f"{self.exports_bucket_arn}/*"]),
            iam.PolicyStatement(
                sid="ExportsKeyDecryptThroughS3Only",
                actions=["kms:Decrypt"],
                resources=[self.exports_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            ),
        ]

    def breach_statements(self) -> list[iam.PolicyStatement]:
        """Breach response: publish to the incident topic, send notifications from the sender."""
        statements = [
            iam.PolicyStatement(sid="PublishIncidents", actions=["sns:Publish"], resources=[self.incident_topic_arn]),
            iam.PolicyStatement(
                sid="IncidentTopicKeyThroughSnsOnly",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.incident_topic_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}},
            ),
        ]
        if self.breach_sender:
            statements.append(
                iam.PolicyStatement(
                    sid="SendBreachNotifications",
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[f"arn:{self.partition}:ses:{self.region}:{self.account}:identity/{self.breach_sender}"],
                )
            )
        return statements


class LifecycleJob(ecs.FargateTaskDefinition):
    """The job's task definition (this node), and beside it in `scope` its log group (path kept from before the
    split: its logical id stays)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        task_role: iam.IRole,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
        logs_key: kms.IKey,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        logs = EncryptedLogGroup(
            scope,
            f"{construct_id}Logs",
            key=logs_key,
            retention_days=log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
        )
        super().__init__(scope, construct_id, cpu=1024, memory_limit_mib=4096, task_role=task_role)
        self.container = add_runtime_container(
            self,
            CONTAINER_NAME,
            image=image,
            command=["python", "-m", "runtime", "--help"],
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=logs.log_group),
        )
