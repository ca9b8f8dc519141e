"""The scheduled control-plane step of per-organisation keys (issue 15, P6/P10): every few minutes
(runtime.contract.KEY_PROVISIONING_MINUTES) EventBridge runs the lifecycle job's task definition, in the app tier
with the job's security group, with `python -m runtime org provision-keys --pending`. A registration (PUT
/v1/organisation records it as pending and answers 503 organisation-key-unavailable) then completes on its own:
the key is created by the job's role, never on the request path. EventBridge's role may only run this task
definition on this cluster and pass the job's own two roles to ECS, in a customer-managed policy (no inline
policy: the role refuses the target's own additions)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from runtime.contract import KEY_PROVISIONING_MINUTES, PROVISION_PENDING_COMMAND
from stacks.services.lifecycle_job import CONTAINER_NAME


class KeyProvisioningSchedule(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, cluster: ecs.ICluster,
                 task_definition: ecs.FargateTaskDefinition, subnets: ec2.SubnetSelection,
                 security_group: ec2.ISecurityGroup) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
                        description="EventBridge runs the key provisioning task (org provision-keys --pending)")
        passed = [task_definition.task_role.role_arn]
        if task_definition.execution_role is not None:
            passed.append(task_definition.execution_role.role_arn)
        iam.ManagedPolicy(self, "RolePolicy", roles=[role], statements=[
            iam.PolicyStatement(
                sid="RunTheKeyProvisioningTaskOnThisCluster", actions=["ecs:RunTask"],
                resources=[task_definition.task_definition_arn],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            ),
            iam.PolicyStatement(
                sid="PassTheJobsRolesToEcsTasks", actions=["iam:PassRole"], resources=passed,
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
        ])
        self.rule = events.Rule(
            self, "Rule", schedule=events.Schedule.rate(Duration.minutes(KEY_PROVISIONING_MINUTES)),
            description="Per-organisation keys (P6, P10): create the keys of registrations waiting for one "
            "(org provision-keys --pending)",
        )
        self.rule.add_target(targets.EcsTask(
            cluster=cluster, task_definition=task_definition, launch_type=ecs.LaunchType.FARGATE,
            subnet_selection=subnets, security_groups=[security_group], assign_public_ip=False,
            role=role.without_policy_updates(),
            container_overrides=[targets.ContainerOverride(container_name=CONTAINER_NAME,
                                                           command=list(PROVISION_PENDING_COMMAND))],
        ))
