"""A one-off runtime task (`aws ecs run-task`): its own role with one customer-managed policy, its own encrypted
log group, and a task definition that declares the commands it runs (PLATFORM_TASK_COMMANDS; the runtime refuses
any other, and the platform pack's P3-TaskPermissionContract checks the role grants what they need)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from runtime import settings
from runtime.permissions import declaration
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.runtime_service import add_runtime_container


class OneOffTask(Construct):
    """Logs, TaskRole (+ TaskPolicy) and Task under this node; `commands` become the container's declaration."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        commands: Sequence[str],
        command: Sequence[str],
        statements: Sequence[iam.PolicyStatement],
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
        logs_key: kms.IKey,
        log_retention_days: int,
        removal: RemovalPolicy,
        cpu: int = 512,
        memory_limit_mib: int = 1024,
    ) -> None:
        super().__init__(scope, construct_id)
        logs = EncryptedLogGroup(
            self,
            "Logs",
            key=logs_key,
            retention_days=log_retention_days,
            # Steps, identifiers, counts and errors; never data (P7, runtime/telemetry).
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=removal,
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"{description}: least privilege for its declared commands (P3, P6)",
        )
        self.policy = iam.ManagedPolicy(self, "TaskPolicy", roles=[self.task_role], statements=list(statements))
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=cpu,
            memory_limit_mib=memory_limit_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = add_runtime_container(
            self.task_definition,
            construct_id.lower(),
            image=image,
            command=list(command),
            environment={**environment, settings.TASK_COMMANDS: declaration(*commands)},
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=construct_id.lower(), log_group=logs.log_group),
        )
