"""P13: the portability export bucket, and the bucket that receives access logs. P14: the audit checkpoint bucket.

Exports are SENSITIVE (decrypted user data during a portability export, P7): SSE-KMS with the
exports key, expired after `export_expiry_days`, and only the lifecycle job role may put or get
objects, so a presigned URL that role signs is the only way out.
"""

from aws_cdk import Duration, RemovalPolicy, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from runtime import contract
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass
from stacks.constructs.platform_stack import PlatformStack, retain_in_production
from stacks.constructs.secure_bucket import secure_bucket
from stacks.keys import EnvironmentKeys
from stacks.policy.rules.p7_confinement import EXPORT_PURPOSE, PURPOSE_TAG


class StorageStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        app_name: str,
        keys: EnvironmentKeys,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="storage",
            summary="export bucket (P13) and access-log bucket",
        )
        removal = retain_in_production(env_config)
        self.access_logs = secure_bucket(
            self,
            "AccessLogs",
            # Request metadata of the load balancers and buckets; no payloads (P7).
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
            key=None,
            access_logs=None,
            expire_after_days=env_config.log_retention_days,
        )
        self.exports = secure_bucket(
            self,
            "Exports",
            data_class=DataClass.SENSITIVE,
            removal_policy=removal,
            key=keys.exports,
            access_logs=self.access_logs,
            expire_after_days=env_config.export_expiry_days,
            name_prefix=contract.exports_bucket_prefix(app_name, env_config.name),
        )
        # Marks the one bucket that may hold SENSITIVE data (P7), for the platform pack and for auditors.
        Tags.of(self.exports).add(PURPOSE_TAG, EXPORT_PURPOSE)
        roles = f"arn:{self.partition}:iam::{env_config.account}:role/"
        job_role_arn = roles + contract.lifecycle_job_role_name(app_name, env_config.name)
        data_role_arn = roles + contract.data_service_role_name(app_name, env_config.name)
        self.exports.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheLifecycleJobWritesExports",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:PutObject",
                    "s3:GetObjectVersion",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ],
                resources=[self.exports.arn_for_objects("*")],
                conditions={"StringNotEquals": {"aws:PrincipalArn": job_role_arn}},
            )
        )
        # Reading: the job, and the data service, whose presigned URLs are how an organisation's admin downloads
        # its export (P13): a URL acts as the role that signed it.
        self.exports.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheJobAndTheDataServiceReadExports",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[self.exports.arn_for_objects("*")],
                conditions={"StringNotEquals": {"aws:PrincipalArn": [job_role_arn, data_role_arn]}},
            )
        )
        self.lifecycle_job_role_arn = job_role_arn
        self.audit_checkpoints = self._audit_checkpoints(env_config, app_name, keys, removal)

    def _audit_checkpoints(self, env: EnvironmentConfig, app_name: str, keys: EnvironmentKeys,
                           removal: RemovalPolicy) -> s3.Bucket:
        """The signed audit checkpoints (P14): Object Lock, COMPLIANCE in production (nobody, not even the account
        root, deletes or overwrites a version before its retention ends), GOVERNANCE in dev and qa; never expired.
        Only the audit sequencer's role writes; nobody changes a retention or bypasses governance mode."""
        retention = Duration.days(env.audit_checkpoint_retention_days)
        bucket = secure_bucket(
            self,
            "AuditCheckpoints",
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
            key=keys.audit,
            access_logs=self.access_logs,
            name_prefix=contract.audit_checkpoints_bucket_prefix(app_name, env.name),
            object_lock=s3.ObjectLockRetention.compliance(retention) if env.is_production
            else s3.ObjectLockRetention.governance(retention),
        )
        sequencer = contract.audit_sequencer_role_name(app_name, env.name)
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheAuditSequencerWritesCheckpoints",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects("*")],
                conditions={"StringNotEquals": {
                    "aws:PrincipalArn": f"arn:{self.partition}:iam::{env.account}:role/{sequencer}"}},
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="NobodyShortensOrBypassesCheckpointRetention",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold",
                         "s3:DeleteObjectVersion"],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        return bucket
