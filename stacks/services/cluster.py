"""The environment's ECS cluster: task storage encrypted with the compute key; ECS Exec sessions (where on)
encrypted with it too and every session logged (P6, P7)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs.classification import DataClass
from stacks.constructs.encrypted_log_group import EncryptedLogGroup


def runtime_cluster(
    scope: Construct,
    *,
    cluster_name: str,
    vpc: ec2.IVpc,
    compute_key: kms.IKey,
    logs_key: kms.IKey,
    log_retention_days: int,
    ecs_exec: bool,
    removal: RemovalPolicy,
) -> ecs.Cluster:
    exec_configuration = None
    if ecs_exec:
        exec_logs = EncryptedLogGroup(
            scope,
            "ExecSessions",
            key=logs_key,
            retention_days=log_retention_days,
            # An operator's shell session in a task could print data: treat it as SENSITIVE (P7).
            data_class=DataClass.SENSITIVE,
            removal_policy=removal,
        )
        exec_configuration = ecs.ExecuteCommandConfiguration(
            kms_key=compute_key,
            logging=ecs.ExecuteCommandLogging.OVERRIDE,
            log_configuration=ecs.ExecuteCommandLogConfiguration(
                cloud_watch_log_group=exec_logs.log_group, cloud_watch_encryption_enabled=True
            ),
        )
    return ecs.Cluster(
        scope,
        "Cluster",
        cluster_name=cluster_name,
        vpc=vpc,
        container_insights_v2=ecs.ContainerInsights.ENABLED,
        managed_storage_configuration=ecs.ManagedStorageConfiguration(fargate_ephemeral_storage_kms_key=compute_key),
        execute_command_configuration=exec_configuration,
    )
