"""One Fargate service running the runtime image, secure by default (P5, P6, P7).

No public IP; read-only root filesystem, non-root user; logs to a KMS-encrypted log group
with retention; secrets only through ECS secrets; autoscaling between configured bounds.
"""

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import retain_in_production

CONTAINER_NAME = "runtime"
HTTP_PORT = 8080
HTTPS_PORT = 8443  # HIPAA mode: the task terminates TLS itself
# Where the ECS Exec agent writes its state and logs; runtime/Dockerfile declares them as volumes too.
EXEC_AGENT_PATHS = {"exec-agent-state": "/var/lib/amazon", "exec-agent-logs": "/var/log/amazon"}


def container_port(env_config: EnvironmentConfig) -> int:
    return HTTPS_PORT if env_config.hipaa else HTTP_PORT


def add_runtime_container(
    task_definition: ecs.TaskDefinition,
    name: str,
    *,
    image: ecs.ContainerImage,
    environment: Mapping[str, str],
    secrets: Mapping[str, ecs.Secret],
    logging: ecs.LogDriver,
    port_mappings: list[ecs.PortMapping] | None = None,
    command: list[str] | None = None,
    exec_agent: bool = False,
) -> ecs.ContainerDefinition:
    """The runtime image as a non-root container on a read-only root filesystem; /tmp (encrypted task
    storage) is the only writable place, and with `exec_agent` (ECS Exec on) the agent's own paths."""
    container = task_definition.add_container(
        name,
        image=image,
        command=command,
        environment=dict(environment),
        secrets=dict(secrets),
        logging=logging,
        port_mappings=port_mappings,
        readonly_root_filesystem=True,
        user="10001",
    )
    task_definition.add_volume(name="tmp")
    container.add_mount_points(ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False))  # noqa: S108
    if exec_agent:
        for volume, path in EXEC_AGENT_PATHS.items():
            task_definition.add_volume(name=volume)
            container.add_mount_points(ecs.MountPoint(container_path=path, source_volume=volume, read_only=False))
    return container


class RuntimeService(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        cluster: ecs.ICluster,
        image: ecs.ContainerImage,
        subnets: ec2.SubnetSelection,
        task_role: iam.IRole,
        logs_key: kms.IKey,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
        min_tasks: int,
        max_tasks: int,
        worker_command: list[str] | None = None,
    ) -> None:
        """`worker_command`: a background worker (the audit sequencer) instead of an HTTP service: that command,
        no port, no load balancer health checks, exactly `min_tasks` tasks, the old one stopped before a new one
        starts on a deploy."""
        super().__init__(scope, construct_id)
        worker = worker_command is not None
        logs = EncryptedLogGroup(
            self,
            "Logs",
            key=logs_key,
            retention_days=env_config.log_retention_days,
            # The runtime logs ids, timings and status codes only; payloads never (P7, runtime/telemetry).
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=retain_in_production(env_config),
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=env_config.service_cpu,
            memory_limit_mib=env_config.service_memory_mib,
            task_role=task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        port = container_port(env_config)
        self.container = add_runtime_container(
            self.task_definition,
            CONTAINER_NAME,
            image=image,
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=construct_id.lower(), log_group=logs.log_group),
            port_mappings=None if worker else [ecs.PortMapping(container_port=port)],
            command=worker_command,
            exec_agent=env_config.ecs_exec,
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=cluster.vpc,
            description=f"{construct_id} tasks: no inbound traffic" if worker
            else f"{construct_id} tasks: admitted from their load balancer only",
            allow_all_outbound=True,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=min_tasks,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            enable_execute_command=env_config.ecs_exec,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=0 if worker else 100,
            max_healthy_percent=100 if worker else 200,
            health_check_grace_period=None if worker else Duration.seconds(60),
        )
        if not worker:
            scaling = self.service.auto_scale_task_count(min_capacity=min_tasks, max_capacity=max_tasks)
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        self.port = port
