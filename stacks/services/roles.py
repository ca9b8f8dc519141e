"""Task roles: one per task definition, every grant in one customer-managed policy (P6, least privilege)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from runtime.envelope.keyrings.base import PURPOSE as ENVELOPE_PURPOSE
from runtime.envelope.keyrings.organisation import (
    CONTEXT_ORGANISATION,
    TAG_APP,
    TAG_ENVIRONMENT,
    TAG_ORGANISATION,
)


@dataclass(frozen=True)
class DatabaseUsers:
    """Where `rds-db:connect` grants point: one cluster's database users (IAM authentication)."""

    partition: str
    region: str
    account: str
    cluster_resource_id: str

    def arn(self, user: str, *, cluster_resource_id: str | None = None) -> str:
        resource_id = self.cluster_resource_id if cluster_resource_id is None else cluster_resource_id
        return f"arn:{self.partition}:rds-db:{self.region}:{self.account}:dbuser:{resource_id}/{user}"

    def connect(self, *users: str, sid: str = "ConnectAsItsOwnDatabaseUser") -> iam.PolicyStatement:
        return iam.PolicyStatement(sid=sid, actions=["rds-db:connect"], resources=[self.arn(u) for u in users])


def envelope_statement(application_key_arn: str, environment: str) -> iam.PolicyStatement:
    """The per-owner data keys (P6): the application key, under this environment's encryption context only."""
    return iam.PolicyStatement(
        sid="EnvelopeDataKeysOfThisEnvironmentOnly",
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        resources=[application_key_arn],
        conditions={
            "StringEquals": {
                "kms:EncryptionContext:environment": environment,
                "kms:EncryptionContext:purpose": ENVELOPE_PURPOSE,
            }
        },
    )


def receipt_signing_statement(key_arn: str, *, sign: bool) -> iam.PolicyStatement:
    """The receipt-signing key (P10): its public key (the data service publishes it, the job verifies stored
    receipts) and, for the lifecycle job only, kms:Sign (its key policy denies Sign to every other principal)."""
    return iam.PolicyStatement(
        sid="SignErasureReceipts" if sign else "ReadTheReceiptSigningPublicKey",
        actions=["kms:GetPublicKey", "kms:Sign"] if sign else ["kms:GetPublicKey"],
        resources=[key_arn],
    )


def audit_signing_statement(key_arn: str, *, sign: bool) -> iam.PolicyStatement:
    """The audit-signing key (P14): its public key (what verifiers trust) and, for the audit sequencer only,
    kms:Sign (its key policy denies Sign to every other principal)."""
    return iam.PolicyStatement(
        sid="SignAuditCheckpoints" if sign else "ReadTheAuditSigningPublicKey",
        actions=["kms:GetPublicKey", "kms:Sign"] if sign else ["kms:GetPublicKey"],
        resources=[key_arn],
    )


def checkpoint_bucket_statements(bucket_arn: str, key_arn: str, *, write: bool) -> list[iam.PolicyStatement]:
    """The audit checkpoint bucket (P14): the sequencer writes objects (and checks one is there), verifiers list
    and read them; through S3, the bucket's KMS key (SSE-KMS)."""
    if write:
        return [
            iam.PolicyStatement(sid="WriteAuditCheckpoints", actions=["s3:PutObject", "s3:GetObject"],
                                resources=[f"{bucket_arn}/*"]),
            iam.PolicyStatement(sid="EncryptAuditCheckpoints", actions=["kms:GenerateDataKey"],
                                resources=[key_arn]),
        ]
    return [
        iam.PolicyStatement(sid="ListAuditCheckpoints", actions=["s3:ListBucket"], resources=[bucket_arn]),
        iam.PolicyStatement(sid="ReadAuditCheckpoints", actions=["s3:GetObject"], resources=[f"{bucket_arn}/*"]),
        iam.PolicyStatement(sid="DecryptAuditCheckpoints", actions=["kms:Decrypt"], resources=[key_arn]),
    ]


def task_role(
    scope: Construct,
    construct_id: str,
    statements: Sequence[iam.PolicyStatement],
    *,
    role_name: str | None = None,
) -> iam.Role:
    """A role ECS tasks assume, with `statements` in the customer-managed policy `<construct_id>Policy`."""
    role = iam.Role(
        scope,
        construct_id,
        role_name=role_name,
        assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description=f"{construct_id}: least privilege for the runtime (P6)",
    )
    iam.ManagedPolicy(scope, f"{construct_id}Policy", roles=[role], statements=list(statements))
    return role


def decrypt_secrets_through_secrets_manager(
    task_definition: ecs.TaskDefinition, key_arn: str, region: str
) -> None:
    """The execution role reads the task's ECS secrets: their key, through Secrets Manager only."""
    task_definition.add_to_execution_role_policy(
        iam.PolicyStatement(
            sid="DecryptItsSecretsThroughSecretsManager",
            actions=["kms:Decrypt"],
            resources=[key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        )
    )


@dataclass(frozen=True)
class OrganisationKeys:
    """This environment's per-organisation KMS keys (P6, P10; runtime/envelope/keyrings/organisation.py): tagged
    platform:environment, platform:app and platform:organisation, aliased alias/<app>-<env>-org-<id>.

    The grants name `*` (fenced by conditions) because IAM authorizes CreateKey on `*` only and the keys exist
    only at run time (the P3 permission rule reads them as this account's `key/<any id>`); `fence()` is the Deny that
    keeps every administrative action on this account's and region's keys and this environment's aliases."""

    partition: str
    region: str
    account: str
    app: str
    environment: str
    pending_days: int

    @property
    def alias_pattern(self) -> str:
        return f"alias/{self.app}-{self.environment}-org-*"

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:{resource}"

    def _tagged(self) -> dict[str, str]:
        return {
            "aws:ResourceAccount": self.account,
            f"aws:ResourceTag/{TAG_ENVIRONMENT}": self.environment,
            f"aws:ResourceTag/{TAG_APP}": self.app,
        }

    def use_statement(self, *, rewrap: bool = False) -> iam.PolicyStatement:
        """Data keys under an organisation's own key, with this environment's context (the key policy adds the
        organisation's): the data service and the lifecycle job; `rewrap`: also kms:Encrypt, for the job's
        `org migrate-keys` (re-wraps data keys from the old shared key under the organisation's)."""
        return iam.PolicyStatement(
            sid="OrganisationDataKeysOfThisEnvironmentOnly",
            actions=["kms:GenerateDataKey", "kms:Decrypt", *(["kms:Encrypt"] if rewrap else [])],
            resources=["*"],
            conditions={
                "StringEquals": {
                    **self._tagged(),
                    "kms:EncryptionContext:environment": self.environment,
                    "kms:EncryptionContext:purpose": ENVELOPE_PURPOSE,
                },
                "Null": {f"kms:EncryptionContext:{CONTEXT_ORGANISATION}": "false"},
                "ForAnyValue:StringLike": {"kms:ResourceAliases": self.alias_pattern},
            },
        )

    def customer_key_statements(self, *, check: bool = False) -> list[iam.PolicyStatement]:
        """Organisations' own keys (BYOK, in their accounts, this region): data keys with this environment's
        context only, never on this account's keys (those have the tag-fenced statement above); `check`: also
        the key's state and rotation, for the job's `org register-key` and `org key-state`."""
        customer_keys = f"arn:{self.partition}:kms:{self.region}:*:key/*"
        statements = [iam.PolicyStatement(
            sid="CustomerKeysDataKeysWithThisEnvironmentsContextOnly",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[customer_keys],
            conditions={
                "StringEquals": {
                    "kms:EncryptionContext:environment": self.environment,
                    "kms:EncryptionContext:purpose": ENVELOPE_PURPOSE,
                },
                "StringNotEquals": {"aws:ResourceAccount": self.account},
                "Null": {f"kms:EncryptionContext:{CONTEXT_ORGANISATION}": "false"},
            },
        )]
        if check:
            statements.append(iam.PolicyStatement(
                sid="CustomerKeysStateAndRotation",
                actions=["kms:DescribeKey", "kms:GetKeyRotationStatus"],
                resources=[customer_keys],
                conditions={"StringNotEquals": {"aws:ResourceAccount": self.account}},
            ))
        return statements

    def administer_statements(self) -> list[iam.PolicyStatement]:
        """The control plane (the lifecycle job: `org provision-keys`, `org key-state`, `org cancel-key-deletion`,
        and erasure's ScheduleKeyDeletion): create tagged symmetric keys, alias them, and manage this
        environment's tagged keys only."""
        tags = [TAG_ENVIRONMENT, TAG_APP, TAG_ORGANISATION]
        request_tags = {
            f"aws:RequestTag/{TAG_ENVIRONMENT}": self.environment,
            f"aws:RequestTag/{TAG_APP}": self.app,
        }
        organisation_tagged = {f"aws:ResourceTag/{TAG_ORGANISATION}": "false"}
        return [
            iam.PolicyStatement(
                sid="CreateSymmetricOrganisationKeysTaggedForThisEnvironment",
                actions=["kms:CreateKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        **request_tags,
                        "kms:KeySpec": "SYMMETRIC_DEFAULT",
                        "kms:KeyUsage": "ENCRYPT_DECRYPT",
                    },
                    "ForAllValues:StringEquals": {"aws:TagKeys": tags},
                    "Null": {f"aws:RequestTag/{TAG_ORGANISATION}": "false"},
                },
            ),
            iam.PolicyStatement(
                sid="TagOrganisationKeysForThisEnvironmentOnly",
                actions=["kms:TagResource"],
                resources=["*"],
                conditions={
                    "StringEquals": request_tags,
                    "ForAllValues:StringEquals": {"aws:TagKeys": tags},
                    "Null": {f"aws:RequestTag/{TAG_ORGANISATION}": "false"},
                },
            ),
            iam.PolicyStatement(
                sid="AliasOrganisationKeysOfThisAccount",
                actions=["kms:CreateAlias"],
                resources=["*"],
                conditions={"StringEquals": {"aws:ResourceAccount": self.account}},
            ),
            iam.PolicyStatement(
                sid="ManageThisEnvironmentsOrganisationKeys",
                actions=["kms:DescribeKey", "kms:EnableKeyRotation", "kms:CancelKeyDeletion", "kms:EnableKey"],
                resources=["*"],
                conditions={"StringEquals": self._tagged(), "Null": organisation_tagged},
            ),
            iam.PolicyStatement(
                sid="ScheduleDeletionOfThisEnvironmentsOrganisationKeys",
                actions=["kms:ScheduleKeyDeletion"],
                resources=["*"],
                conditions={
                    "StringEquals": self._tagged(),
                    "Null": organisation_tagged,
                    "NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": self.pending_days},
                },
            ),
            self.fence(),
        ]

    def fence(self) -> iam.PolicyStatement:
        """Deny the administrative actions on anything but this account's and region's keys and this
        environment's organisation-key aliases (CreateAlias is authorized on the alias AND the key). DescribeKey
        is not fenced: it only reads, and `org register-key` describes organisations' own keys (BYOK)."""
        return iam.PolicyStatement(
            sid="OrganisationKeyAdministrationOnThisEnvironmentsKeysAndAliasesOnly",
            effect=iam.Effect.DENY,
            actions=["kms:CreateAlias", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion",
                     "kms:CancelKeyDeletion", "kms:EnableKey"],
            not_resources=[self.arn("key/*"), self.arn(self.alias_pattern)],
        )
