"""What both services behind a load balancer share: where their tasks run and with what."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from stacks.config import EnvironmentConfig


@dataclass(frozen=True)
class ServiceBase:
    env_config: EnvironmentConfig  # sizes, log retention, ECS Exec, HIPAA (RuntimeService reads them)
    cluster: ecs.ICluster
    image: ecs.ContainerImage
    subnets: ec2.SubnetSelection  # the app subnets the tasks run in
    logs_key: kms.IKey
    secrets: Mapping[str, ecs.Secret]  # ECS secrets every service gets (the audit chain key)
    access_logs: s3.IBucket  # where the load balancer logs

    def service_props(
        self, *, task_role: iam.IRole, environment: Mapping[str, str], min_tasks: int, max_tasks: int
    ) -> dict[str, Any]:
        """`RuntimeService`'s keyword arguments for a service of this base: who it is and how many."""
        return {
            "env_config": self.env_config, "cluster": self.cluster, "image": self.image, "subnets": self.subnets,
            "task_role": task_role, "logs_key": self.logs_key, "environment": environment, "secrets": self.secrets,
            "min_tasks": min_tasks, "max_tasks": max_tasks,
        }
