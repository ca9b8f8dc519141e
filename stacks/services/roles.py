"""Task roles: one per task definition, every grant in one customer-managed policy (P6, least privilege)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from runtime.envelope.keyrings.base import PURPOSE as ENVELOPE_PURPOSE


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
