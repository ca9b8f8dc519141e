"""Database setup during `cdk deploy` (P3, P4, P5, P6): roles and schema BEFORE new service tasks serve.

A Fargate task definition of its own runs `python -m runtime db setup` (runtime/db/setup.py): as the RDS
master user (from the master secret, which only THIS task role may read) it creates or repairs the
roles, then as platform_owner (IAM authentication, its own `rds-db:connect` grant) it applies the
migrations, under one advisory lock, so it runs once however many start.

The mechanism: a CloudFormation custom resource backed directly by a small Python Lambda of ours
(database_setup_handler/index.py) that calls `ecs:RunTask`, polls `DescribeTasks` until the task is
STOPPED and answers SUCCESS only when the setup container exited 0, else FAILED with the task's exit
code, stop reason, log stream and last log lines, which the stack event shows; the deploy then rolls
back before any service changes. Why this and not the alternatives:
- Re-runs exactly when it should: the task definition ARN is a property of the resource, and every
  change of the image, command or settings registers a new revision, so CloudFormation sends an Update
  whenever (and only when) the code or its settings change. `triggers.Trigger` invokes a published Lambda
  *version* whose hash is computed from the unresolved template (a `Ref` to the task definition never
  changes there), so it would re-run the OLD revision, or not at all, unless the hash were forged.
- Every function in the path is ours to configure: in the app subnets, reserved concurrency, a
  KMS-encrypted dead-letter queue, an encrypted log group with retention, a least-privilege role with
  customer-managed policies only. Trigger's and the provider framework's own handlers (and the Step
  Functions waiter a `RunTask.sync` would need to be started and awaited from CloudFormation) are
  CDK-managed functions outside the VPC, without concurrency or DLQ, which the packs would flag and
  only an acknowledgement could silence.
- It waits without polling machinery: one invocation waits up to the Lambda's 15 minutes (a setup run
  takes a task start plus seconds of SQL); the handler stops the task and answers before its own timeout,
  and `service_timeout` bounds CloudFormation's wait should the Lambda die without answering.
Ordering: `run_before(*services)` makes the services depend on the resource, so a new task definition
of a service is only rolled out after the schema it needs is in place; `run_after(...)` for anything the
task needs first (the resource already waits for its own database ingress rule and policies).
Network: the Lambda reaches the ECS API and the response URL (S3) and the task reaches ECR, Logs,
Secrets Manager and Aurora from the app subnets: through NAT, or VPC endpoints for ecs, ecr.api,
ecr.dkr, logs, secretsmanager, sts and the S3 gateway.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from runtime import settings
from runtime.contract import OWNER_ROLE
from runtime.permissions import DB_SETUP, declaration
from stacks.config import EnvironmentConfig
from stacks.constructs.classification import DataClass, classify
from stacks.constructs.encrypted_log_group import EncryptedLogGroup
from stacks.constructs.platform_stack import retain_in_production
from stacks.constructs.runtime_service import add_runtime_container

HANDLER_DIR: Final = Path(__file__).resolve().parent / "database_setup_handler"
CONTAINER_NAME: Final = "setup"
LOG_STREAM_PREFIX: Final = "database-setup"
COMMAND: Final = ("python", "-m", "runtime", "db", "setup")
HTTPS: Final = 443
# The Lambda waits at most its own 15 minutes; CloudFormation a little longer, should it never answer.
HANDLER_TIMEOUT: Final = Duration.minutes(15)
SERVICE_TIMEOUT: Final = Duration.minutes(20)


@dataclass(frozen=True)
class SetupKeys:
    """The keys the setup touches: the master secret's (database) key, the logs key, the queue's (compute) key."""

    database: kms.IKey
    logs: kms.IKey
    compute: kms.IKey


class DatabaseSetup(Construct):
    """The setup task definition, its roles and group, and the custom resource that runs it on every deploy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        cluster: ecs.ICluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        image: ecs.ContainerImage,
        keys: SetupKeys,
        database: rds.IDatabaseCluster,
        master_secret: secretsmanager.ISecret,
        database_security_group: ec2.ISecurityGroup,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self._env, self._keys = env_config, keys
        self._removal = retain_in_production(env_config)
        self._partition = Stack.of(self).partition
        task_policy = self._task(image, database, master_secret, environment)
        database_ingress = self._task_network(vpc, database_security_group)
        handler_policy = self._handler(cluster, vpc, subnets)
        self.resource = CustomResource(
            self,
            "Run",
            service_token=self.function.function_arn,
            resource_type="Custom::DatabaseSetup",
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Cluster": cluster.cluster_arn,
                # A new revision (image, command, settings) is a new value: CloudFormation sends an Update.
                "TaskDefinitionArn": self.task_definition.task_definition_arn,
                "ContainerName": CONTAINER_NAME,
                "Subnets": _subnet_ids(vpc, subnets),
                "SecurityGroups": [self.security_group.security_group_id],
                "LogGroup": self.log_group.log_group_name,
                "LogStreamPrefix": LOG_STREAM_PREFIX,
            },
        )
        self.resource.node.add_dependency(task_policy, handler_policy, database_ingress)

    def _log_group(self, construct_id: str) -> logs.ILogGroup:
        # The setup prints steps, role names, versions and errors; never data, never the password (P7).
        return EncryptedLogGroup(
            self,
            construct_id,
            key=self._keys.logs,
            retention_days=self._env.log_retention_days,
            data_class=DataClass.NOT_SENSITIVE,
            removal_policy=self._removal,
        ).log_group

    def _task(
        self,
        image: ecs.ContainerImage,
        database: rds.IDatabaseCluster,
        master_secret: secretsmanager.ISecret,
        environment: Mapping[str, str],
    ) -> iam.ManagedPolicy:
        """The setup task: its own role, the only one that may read the master secret."""
        env = self._env
        self.log_group = self._log_group("Logs")
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Database setup task: reads the master secret, connects as the migration owner (P3)",
        )
        task_policy = iam.ManagedPolicy(
            self,
            "TaskPolicy",
            roles=[self.task_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheMasterSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[master_secret.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="DatabaseKeyThroughSecretsManagerOnly",
                    actions=["kms:Decrypt"],
                    resources=[self._keys.database.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{env.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="ConnectAsTheMigrationOwner",
                    actions=["rds-db:connect"],
                    resources=[
                        f"arn:{self._partition}:rds-db:{env.region}:{env.account}:dbuser:"
                        f"{database.cluster_resource_identifier}/{OWNER_ROLE}"
                    ],
                ),
            ],
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=256,
            memory_limit_mib=512,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = add_runtime_container(
            self.task_definition,
            CONTAINER_NAME,
            image=image,
            command=list(COMMAND),
            environment={
                **environment,
                # The admin comes from the secret at run time (never an ECS secret: it stays out of the
                # container's environment); the owner logs in with an IAM token.
                settings.DATABASE_ADMIN_SECRET_ID: master_secret.secret_arn,
                settings.DATABASE_MIGRATION_USER: OWNER_ROLE,
                settings.DATABASE_USER: OWNER_ROLE,
                settings.DATABASE_IAM_AUTH: "true",
                settings.TASK_COMMANDS: declaration(DB_SETUP),
            },
            secrets={},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=LOG_STREAM_PREFIX, log_group=self.log_group),
        )
        return task_policy

    def _task_network(self, vpc: ec2.IVpc, database_security_group: ec2.ISecurityGroup) -> ec2.CfnSecurityGroupIngress:
        """No inbound; out to the AWS APIs and the database only; the database admits it on its port."""
        port = self._env.db_port
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            description="Database setup task: no inbound; HTTPS to AWS APIs and the database port out",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "AWS APIs (TLS)")
        self.security_group.add_egress_rule(database_security_group, ec2.Port.tcp(port), "Aurora (TLS, P5)")
        return ec2.CfnSecurityGroupIngress(
            self,
            "DatabaseIngress",
            group_id=database_security_group.security_group_id,
            source_security_group_id=self.security_group.security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description="Database setup task to Aurora",
        )

    def _handler(self, cluster: ecs.ICluster, vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> iam.ManagedPolicy:
        """The Lambda that runs the task during the deploy and waits for it."""
        handler_logs = self._log_group("HandlerLogs")
        dead_letters = sqs.Queue(
            self,
            "HandlerDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self._keys.compute,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=self._removal,
        )
        classify(dead_letters, DataClass.NOT_SENSITIVE)  # CloudFormation requests: ids and ARNs only
        handler_group = ec2.SecurityGroup(
            self,
            "HandlerSecurityGroup",
            vpc=vpc,
            description="Database setup handler: no inbound; HTTPS out (ECS API, CloudFormation response URL)",
            allow_all_outbound=False,
        )
        handler_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "AWS APIs (TLS)")
        handler_role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Database setup handler: runs, watches and stops the setup task only",
        )
        handler_policy = iam.ManagedPolicy(
            self,
            "HandlerPolicy",
            roles=[handler_role],
            statements=self._handler_statements(cluster, handler_logs, dead_letters),
        )
        self.function = lambda_.Function(
            self,
            "Handler",
            description="Runs the database setup task during the deploy and waits for it (issue 14)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=HANDLER_TIMEOUT,
            memory_size=256,
            architecture=lambda_.Architecture.X86_64,
            # Our policy holds every permission: CDK's automatic grants (an inline policy) go nowhere, and the
            # function waits for the policy (below), not again for the role it already references.
            role=iam.Role.from_role_arn(self, "HandlerRoleArn", handler_role.role_arn, mutable=False),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[handler_group],
            reserved_concurrent_executions=1,  # one deploy at a time; the advisory lock covers the rest
            dead_letter_queue=dead_letters,
            retry_attempts=0,  # CloudFormation's request is answered once; a crash goes to the DLQ
            log_group=handler_logs,
        )
        self.function.node.add_dependency(handler_policy)  # Lambda checks its VPC permissions on creation
        return handler_policy

    def _handler_statements(
        self, cluster: ecs.ICluster, handler_logs: logs.ILogGroup, dead_letters: sqs.IQueue
    ) -> list[iam.PolicyStatement]:
        region, account = self._env.region, self._env.account
        cluster_condition = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}
        return [
            iam.PolicyStatement(
                sid="RunTheSetupTask",
                actions=["ecs:RunTask"],
                resources=[self.task_definition.task_definition_arn],
                conditions=cluster_condition,
            ),
            iam.PolicyStatement(
                sid="PassTheSetupTaskRoles",
                actions=["iam:PassRole"],
                resources=[self.task_role.role_arn, self.task_definition.obtain_execution_role().role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="WatchAndStopTheSetupTask",
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[f"arn:{self._partition}:ecs:{region}:{account}:task/{cluster.cluster_name}/*"],
                conditions=cluster_condition,
            ),
            iam.PolicyStatement(
                sid="ReadTheSetupTaskLog", actions=["logs:GetLogEvents"], resources=[self.log_group.log_group_arn]
            ),
            iam.PolicyStatement(
                sid="WriteItsOwnLog",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[handler_logs.log_group_arn],
            ),
            iam.PolicyStatement(sid="DeadLetters", actions=["sqs:SendMessage"], resources=[dead_letters.queue_arn]),
            iam.PolicyStatement(
                sid="DeadLettersKeyThroughSqsOnly",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._keys.compute.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            ),
            # Lambda's network interfaces in the app subnets (the actions AWSLambdaVPCAccessExecutionRole grants,
            # which Lambda checks on "*"): DescribeNetworkInterfaces has no resource level in IAM, and the changes
            # are held to this environment's region.
            iam.PolicyStatement(
                sid="DescribeItsNetworkInterfaces", actions=["ec2:DescribeNetworkInterfaces"], resources=["*"]
            ),
            iam.PolicyStatement(
                sid="ManageItsNetworkInterfacesInThisRegion",
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
                conditions={"StringEquals": {"aws:RequestedRegion": region}},
            ),
        ]

    def run_before(self, *constructs: IConstruct) -> None:
        """Make `constructs` (the ECS services) wait for a successful setup on every deploy."""
        for construct in constructs:
            construct.node.add_dependency(self.resource)

    def run_after(self, *constructs: IConstruct) -> None:
        """Run the setup only once `constructs` exist (say, an endpoint the task needs)."""
        self.resource.node.add_dependency(*constructs)


def _subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[str]:
    """The ids `selection` picks in `vpc` (jsii takes the selection's fields as keywords)."""
    return vpc.select_subnets(
        availability_zones=selection.availability_zones,
        one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters,
        subnet_group_name=selection.subnet_group_name,
        subnets=selection.subnets,
        subnet_type=selection.subnet_type,
    ).subnet_ids
