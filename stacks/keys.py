"""P6: customer-managed KMS keys of ONE environment, one per purpose, rotation on.

Each key's policy keeps the account administrator statement (so IAM policies in this
account can be granted explicitly, never cross-account: P1) and adds only the AWS
service principals that must use the key directly, scoped by condition to this
account and region.
"""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.platform_stack import PlatformStack


@dataclass(frozen=True)
class EnvironmentKeys:
    database: kms.IKey  # Aurora storage, Performance Insights, the master secret
    application: kms.IKey  # the runtime's envelope encryption of sensitive fields
    logs: kms.IKey  # every CloudWatch log group
    backups: kms.IKey  # the AWS Backup vault
    exports: kms.IKey  # the portability export bucket (P13)


PURPOSES = ("database", "application", "logs", "backups", "exports")


class KeysStack(PlatformStack):
    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, app_name: str) -> None:
        super().__init__(
            scope,
            construct_id,
            env_config=env_config,
            app_name=app_name,
            purpose="keys",
            summary="customer-managed KMS keys per purpose (P6)",
        )
        self._env_config = env_config
        self._app_name = app_name
        keys = {purpose: self._key(purpose) for purpose in PURPOSES}
        self._allow_cloudwatch_logs(keys["logs"])
        self.keys = EnvironmentKeys(**keys)

    def _key(self, purpose: str) -> kms.Key:
        env = self._env_config
        production = env.is_production
        return kms.Key(
            self,
            f"{purpose.capitalize()}Key",
            alias=f"alias/{self._app_name}/{env.name}/{purpose}",
            description=f"{self._app_name} {env.name}: {purpose} encryption (P6)",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            # A deleted key makes its data unreadable for good: production keys outlive the stack.
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
            pending_window=Duration.days(30 if production else 7),
        )

    def _allow_cloudwatch_logs(self, key: kms.Key) -> None:
        """CloudWatch Logs encrypts with the key itself, so it needs the key policy, limited to this
        account's log groups in this region."""
        region, account = self._env_config.region, self._env_config.account
        log_groups = f"arn:{self.partition}:logs:{region}:{account}:log-group:*"
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisEnvironment",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
