"""P6: customer-managed KMS keys of ONE environment, one per purpose, rotation on.

Each key's policy keeps the account administrator statement (so IAM policies in this
account can be granted explicitly, never cross-account: P1) and adds only the AWS
service principals that must use the key directly, scoped by condition to this
account and region. A self-hosted install may bring its own key for a purpose
(`existing_key_arns`); its key policy is then the customer's to keep.

Two more keys are not for encryption. The audit-signing key (P14) signs the audit chain's checkpoints (the audit
sequencer's role alone may: runtime.contract.audit_sequencer_role_name); verifiers read its public key. The
receipt-signing key (P10), asymmetric (ECC_NIST_P256, SIGN_VERIFY), which
signs erasure receipts so their owner can verify them with its public key. KMS cannot rotate an asymmetric key
(a new key is a new key id, which new receipts name; old receipts keep verifying with the old public key). Its
policy lets nobody but the lifecycle job's role (a named role: runtime.contract.lifecycle_job_role_name) sign:
an explicit Deny of kms:Sign to every other principal, whatever IAM grants. kms:GetPublicKey is granted by IAM
(the job's and the data service's task roles); the public key is public information. Always created here,
also when a self-hosted install brings its own encryption keys.
"""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from runtime import contract
from stacks.config import KEY_PURPOSES, EnvironmentConfig
from stacks.constructs.platform_stack import PlatformStack


@dataclass(frozen=True)
class EnvironmentKeys:
    database: kms.IKey  # Aurora storage, Performance Insights, the master secret
    application: kms.IKey  # the runtime's envelope encryption of sensitive fields, its secrets
    logs: kms.IKey  # every CloudWatch log group
    backups: kms.IKey  # the AWS Backup vault
    exports: kms.IKey  # the portability export bucket (P13)
    compute: kms.IKey  # Fargate ephemeral storage, ECS Exec sessions
    audit: kms.IKey  # CloudTrail and the incident topic (P12, P14)
    receipt_signing: kms.IKey  # signs erasure receipts (P10): asymmetric, ECC_NIST_P256 SIGN_VERIFY
    audit_signing: kms.IKey  # signs the audit chain's checkpoints (P14): asymmetric, ECC_NIST_P256 SIGN_VERIFY


def cluster_name(app_name: str, env_config: EnvironmentConfig) -> str:
    return contract.environment_name_prefix(app_name, env_config.name)


def trail_name(app_name: str, env_config: EnvironmentConfig) -> str:
    """The account trail (stacks/audit.py); named here so the audit key's policy can name that one trail."""
    return contract.environment_name_prefix(app_name, env_config.name)


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
        existing = env_config.existing_keys
        keys: dict[str, kms.IKey] = {}
        for purpose in KEY_PURPOSES:
            if purpose in existing:
                keys[purpose] = kms.Key.from_key_arn(self, f"{purpose.capitalize()}Key", existing[purpose])
            else:
                key = self._key(purpose)
                self._allow_services(purpose, key)
                keys[purpose] = key
        self.keys = EnvironmentKeys(**keys, receipt_signing=self._receipt_signing_key(),
                                    audit_signing=self._audit_signing_key())

    def _key(self, purpose: str) -> kms.Key:
        env = self._env_config
        production = env.is_production
        return kms.Key(
            self,
            f"{purpose.capitalize()}Key",
            alias=contract.environment_key_alias_prefix(self._app_name, env.name) + purpose,
            description=f"{self._app_name} {env.name}: {purpose} encryption (P6)",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            # A deleted key makes its data unreadable for good: production keys outlive the stack.
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
            pending_window=Duration.days(30 if production else 7),
        )

    def _receipt_signing_key(self) -> kms.Key:
        """The erasure receipts' signing key (P10): ECDSA P-256, signed with by the lifecycle job's role only."""
        return self._signing_key(
            "ReceiptSigningKey", "receipt-signing", "signs erasure receipts (P10)",
            signer_role=contract.lifecycle_job_role_name(self._app_name, self._env_config.name),
            sid="OnlyTheLifecycleJobSignsReceipts",
        )

    def _audit_signing_key(self) -> kms.Key:
        """The audit checkpoints' signing key (P14): ECDSA P-256, signed with by the audit sequencer's role only."""
        return self._signing_key(
            "AuditSigningKey", "audit-signing", "signs the audit chain's checkpoints (P14)",
            signer_role=contract.audit_sequencer_role_name(self._app_name, self._env_config.name),
            sid="OnlyTheAuditSequencerSignsCheckpoints",
        )

    def _signing_key(self, construct_id: str, alias: str, what: str, *, signer_role: str, sid: str) -> kms.Key:
        env = self._env_config
        key = kms.Key(
            self,
            construct_id,
            alias=contract.environment_key_alias_prefix(self._app_name, env.name) + alias,
            description=f"{self._app_name} {env.name}: {what}; asymmetric, so KMS cannot rotate it",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            enable_key_rotation=False,  # not possible for asymmetric keys; P6-CustomerManagedKeys knows
            # What it signed stays verifiable with the published public key; production keeps the key anyway.
            removal_policy=RemovalPolicy.RETAIN if env.is_production else RemovalPolicy.DESTROY,
            pending_window=Duration.days(30 if env.is_production else 7),
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:Sign"],
                resources=["*"],
                conditions={"ArnNotEquals": {
                    "aws:PrincipalArn": f"arn:{self.partition}:iam::{env.account}:role/{signer_role}"}},
            )
        )
        return key

    def _allow_services(self, purpose: str, key: kms.Key) -> None:
        """Services that encrypt with the key themselves need the key policy, each limited by
        condition to this environment's account (and region, resource) only."""
        region, account, partition = self._env_config.region, self._env_config.account, self.partition
        statements: list[iam.PolicyStatement] = []
        if purpose == "logs":
            statements.append(
                iam.PolicyStatement(
                    sid="AllowCloudWatchLogsOfThisEnvironment",
                    principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                    actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    resources=["*"],
                    conditions={
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                        }
                    },
                )
            )
        if purpose == "compute":
            ecs_context = {
                "kms:EncryptionContext:aws:ecs:clusterAccount": [account],
                "kms:EncryptionContext:aws:ecs:clusterName": [cluster_name(self._app_name, self._env_config)],
            }
            fargate = iam.ServicePrincipal("fargate.amazonaws.com")
            statements += [
                iam.PolicyStatement(
                    sid="AllowFargateEphemeralStorageOfThisCluster",
                    principals=[fargate],
                    actions=["kms:GenerateDataKeyWithoutPlaintext"],
                    resources=["*"],
                    conditions={"StringEquals": ecs_context},
                ),
                iam.PolicyStatement(
                    sid="AllowFargateDecryptGrantsOfThisCluster",
                    principals=[fargate],
                    actions=["kms:CreateGrant"],
                    resources=["*"],
                    conditions={
                        "StringEquals": ecs_context,
                        "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
                    },
                ),
            ]
        if purpose == "audit":
            statements += self._audit_statements(account, region, partition)
        for statement in statements:
            key.add_to_resource_policy(statement)

    def _audit_statements(self, account: str, region: str, partition: str) -> list[iam.PolicyStatement]:
        """CloudTrail, CloudWatch alarms and EventBridge rules use the audit key themselves.

        CloudTrail, as its guide documents the key policy of a trail ("Configure AWS KMS key policies for
        CloudTrail"): GenerateDataKey* under the trail's encryption context and for this trail only
        (aws:SourceArn); DescribeKey for this trail, with no encryption-context condition (DescribeKey has no
        encryption context, so such a condition never matches: InsufficientEncryptionPolicyException);
        Decrypt for this trail, which CloudTrail needs to create the trail when its bucket uses an S3 Bucket Key.
        """
        statements: list[iam.PolicyStatement] = []
        if self._env_config.cloudtrail:
            trails = f"arn:{partition}:cloudtrail:*:{account}:trail/*"
            name = trail_name(self._app_name, self._env_config)
            trail = f"arn:{partition}:cloudtrail:{region}:{account}:trail/{name}"
            cloudtrail = iam.ServicePrincipal("cloudtrail.amazonaws.com")
            this_trail = {"StringEquals": {"aws:SourceArn": trail}}
            statements += [
                iam.PolicyStatement(
                    sid="AllowCloudTrailToEncryptLogsOfThisTrail",
                    principals=[cloudtrail],
                    actions=["kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={
                        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
                        **this_trail,
                    },
                ),
                iam.PolicyStatement(
                    sid="AllowCloudTrailToDescribeTheKey",
                    principals=[cloudtrail],
                    actions=["kms:DescribeKey"],
                    resources=["*"],
                    conditions=this_trail,
                ),
                iam.PolicyStatement(
                    sid="AllowCloudTrailToDecryptForTheBucketKey",
                    principals=[cloudtrail],
                    actions=["kms:Decrypt"],
                    resources=["*"],
                    conditions=this_trail,
                ),
            ]
        # The encrypted incident topic (SNS "Enable compatibility between event sources from AWS services and
        # encrypted topics"): the publishing service needs GenerateDataKey* and Decrypt on the topic's key.
        statements += [
            # CloudWatch alarms of this account and region only.
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccountToPublishToTheIncidentTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*"},
                },
            ),
            # EventBridge's KMS requests for an SNS target carry no aws:SourceAccount/aws:SourceArn: a condition
            # on them would drop every notification. The topic's policy admits only this account's rules.
            iam.PolicyStatement(
                sid="AllowEventBridgeRulesToPublishToTheIncidentTopic",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            ),
        ]
        return statements
