"""The deploy-time database setup construct (issue 14 A) in a small stack of its own, and its handler.

The stack holds a VPC, the environment's keys, stand-ins for the Aurora cluster and its master secret,
an ECS cluster, the construct and one dummy service it must run before. It is synthesized ONCE per
session with cdk-nag's four packs, as the platform registers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from botocore.stub import Stubber  # type: ignore[import-untyped]

import stacks  # noqa: F401  (jsii environment first)
from runtime import settings
from runtime.db.schema import OWNER_ROLE
from stacks.config import EnvironmentConfig, load_config
from stacks.constructs.database_setup import COMMAND, CONTAINER_NAME, DatabaseSetup, SetupKeys
from stacks.constructs.database_setup_handler import index as handler
from stacks.keys import EnvironmentKeys
from stacks.policy.findings import Finding
from stacks.policy.packs import PACKS
from stacks.synth import FAIL_SYNTH_CONTEXT, REPORT_FILE, read_findings
from tests.stacks.conftest import OPERATOR_CONFIG, cdk_json_context

STACK = "SetupTest"
MASTER_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:platform-admin-AbCdEf"
RESOURCE_ID = "cluster-ABCDEFGHIJKLMNOP"
REGION = "eu-west-1"


@dataclass
class Synthesized:
    env: EnvironmentConfig
    template: dict[str, Any]
    findings: list[Finding]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))


def _env() -> EnvironmentConfig:
    config = load_config(OPERATOR_CONFIG)
    return next(e for e in config.environments if e.name == "dev")


def _build(outdir: Path) -> tuple[App, EnvironmentConfig]:
    env = _env()
    # Path metadata names each resource's construct: the assertions below find resources by it.
    context = {**cdk_json_context(), FAIL_SYNTH_CONTEXT: False, "aws:cdk:enable-path-metadata": True}
    app = App(outdir=str(outdir), context=context)
    Validations.of(app).add_plugins(*(pack(app) for pack in PACKS.values()))
    stack = Stack(app, STACK, env=Environment(account=env.account, region=env.region))
    vpc = ec2.Vpc(
        stack, "Vpc", max_azs=2, nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    keys = EnvironmentKeys(**{
        purpose: kms.Key(stack, f"{purpose}Key", enable_key_rotation=True)
        for purpose in ("database", "application", "logs", "backups", "exports", "compute", "audit")
    }, receipt_signing=kms.Key(stack, "ReceiptSigningKey", key_spec=kms.KeySpec.ECC_NIST_P256,
                               key_usage=kms.KeyUsage.SIGN_VERIFY),
       audit_signing=kms.Key(stack, "AuditSigningKey", key_spec=kms.KeySpec.ECC_NIST_P256,
                             key_usage=kms.KeyUsage.SIGN_VERIFY))
    database_group = ec2.SecurityGroup.from_security_group_id(stack, "DatabaseGroup", "sg-0123456789abcdef0")
    database = rds.DatabaseCluster.from_database_cluster_attributes(
        stack, "Database", cluster_identifier="platform-dev-db", cluster_resource_identifier=RESOURCE_ID,
        cluster_endpoint_address="platform-dev-db.cluster-x.eu-west-1.rds.amazonaws.com", port=env.db_port,
        security_groups=[database_group],
    )
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "MasterSecret", MASTER_SECRET_ARN)
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
    image = ecs.ContainerImage.from_registry("registry.example.com/platform/runtime:1.0.0")
    setup = DatabaseSetup(
        stack, "DatabaseSetup", env_config=env, cluster=cluster, vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_group_name="app"), image=image,
        keys=SetupKeys(database=keys.database, logs=keys.logs, compute=keys.compute), database=database,
        master_secret=secret, database_security_group=database_group,
        environment={
            settings.DATABASE_HOST: database.cluster_endpoint.hostname,
            settings.DATABASE_PORT: str(env.db_port),
            settings.DATABASE_NAME: "platform",
            settings.DATABASE_CA_BUNDLE: "/app/certs/rds-global-bundle.pem",
        },
    )
    dummy_task = ecs.FargateTaskDefinition(stack, "DummyTask")
    dummy_task.add_container("app", image=image)
    dummy = ecs.FargateService(stack, "DummyService", cluster=cluster, task_definition=dummy_task,
                               vpc_subnets=ec2.SubnetSelection(subnet_group_name="app"))
    setup.run_before(dummy)
    return app, env


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("setup.out")
    app, env = _build(outdir)
    app.synth()
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    return Synthesized(env, template, read_findings(outdir / REPORT_FILE))


# Findings on the construct that no configuration removes, each of a kind the platform's register already
# explains for the other task definitions (see the report of issue 14 A for the entries to add):
EXPECTED_FINDINGS = {
    # Plain, non-secret settings (names from runtime/settings.py); the admin password is read at run time.
    ("AwsSolutions-ECS2", "DatabaseSetup/Task/Resource"),
    # CDK's execution role keeps its image-pull and log grants as its own policy (like every task definition).
    *((f"{pack}-IAMNoInlinePolicy", "DatabaseSetup/Task/ExecutionRole/DefaultPolicy/Resource")
      for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")),
    # A task's id exists only once it runs: DescribeTasks/StopTask on this cluster's tasks (ecs:cluster condition).
    ("AwsSolutions-IAM5[Resource::arn:aws:ecs:eu-west-1:111111111111:task/<ClusterEB0386A7>/*]",
     "DatabaseSetup/HandlerPolicy/Resource"),
    # A Lambda in a VPC: its network interfaces (DescribeNetworkInterfaces has no resource level in IAM).
    ("AwsSolutions-IAM5[Resource::*]", "DatabaseSetup/HandlerPolicy/Resource"),
}


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    statements = resource["Properties"]["PolicyDocument"]["Statement"]
    return list(statements if isinstance(statements, list) else [statements])


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return list(action if isinstance(action, list) else [action])


def _policies(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {**synthesized.resources("AWS::IAM::ManagedPolicy"), **synthesized.resources("AWS::IAM::Policy")}


def _logical_id(synthesized: Synthesized, path_suffix: str) -> str:
    found = [k for k, v in synthesized.template["Resources"].items()
             if v.get("Metadata", {}).get("aws:cdk:path", "").endswith(path_suffix)]
    assert len(found) == 1, f"{path_suffix}: {found}"
    return str(found[0])


def test_database_setup_only_the_task_role_reads_the_master_secret(synthesized: Synthesized) -> None:
    readers = {
        name: policy for name, policy in _policies(synthesized).items()
        for statement in _statements(policy)
        if "secretsmanager:GetSecretValue" in _actions(statement) and MASTER_SECRET_ARN in json.dumps(statement)
    }
    assert list(readers) == [_logical_id(synthesized, "DatabaseSetup/TaskPolicy/Resource")]
    (policy,) = readers.values()
    assert policy["Properties"]["Roles"] == [{"Ref": _logical_id(synthesized, "DatabaseSetup/TaskRole/Resource")}]
    decrypt = next(s for s in _statements(policy) if _actions(s) == ["kms:Decrypt"])
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    assert decrypt["Resource"] == {"Fn::GetAtt": [_logical_id(synthesized, "databaseKey/Resource"), "Arn"]}


def test_database_setup_task_role_connects_as_the_migration_owner_only(synthesized: Synthesized) -> None:
    policies = synthesized.resources("AWS::IAM::ManagedPolicy")
    policy = policies[_logical_id(synthesized, "DatabaseSetup/TaskPolicy/Resource")]
    connects = [s for s in _statements(policy) if "rds-db:connect" in _actions(s)]
    assert [s["Resource"] for s in connects] == [
        f"arn:aws:rds-db:{REGION}:111111111111:dbuser:{RESOURCE_ID}/{OWNER_ROLE}"
    ]


def test_database_setup_container_runs_db_setup_as_the_owner_with_iam(synthesized: Synthesized) -> None:
    task = synthesized.resources("AWS::ECS::TaskDefinition")[_logical_id(synthesized, "DatabaseSetup/Task/Resource")]
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Name"] == CONTAINER_NAME and container["Command"] == list(COMMAND)
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment[settings.DATABASE_ADMIN_SECRET_ID] == MASTER_SECRET_ARN
    assert environment[settings.DATABASE_MIGRATION_USER] == OWNER_ROLE
    assert environment[settings.DATABASE_IAM_AUTH] == "true"
    assert "Secrets" not in container  # the admin password never sits in the container's environment
    assert container["ReadonlyRootFilesystem"] is True and container["User"] == "10001"
    assert task["Properties"]["TaskRoleArn"] == {
        "Fn::GetAtt": [_logical_id(synthesized, "DatabaseSetup/TaskRole/Resource"), "Arn"]
    }


def test_database_setup_resource_runs_the_task_definition_and_reruns_on_a_new_revision(
    synthesized: Synthesized,
) -> None:
    _, resource = synthesized.one("Custom::DatabaseSetup")
    properties = resource["Properties"]
    # A Ref to the task definition: every new revision changes the property, so CloudFormation sends an Update.
    assert properties["TaskDefinitionArn"] == {"Ref": _logical_id(synthesized, "DatabaseSetup/Task/Resource")}
    assert properties["ServiceToken"] == {"Fn::GetAtt": [_logical_id(synthesized, "DatabaseSetup/Handler/Resource"),
                                                         "Arn"]}
    assert properties["ContainerName"] == CONTAINER_NAME and properties["SecurityGroups"]
    assert int(properties["ServiceTimeout"]) <= 3600
    # It waits for what the task needs: its database ingress and both policies.
    assert set(resource["DependsOn"]) >= {
        _logical_id(synthesized, "DatabaseSetup/DatabaseIngress"),
        _logical_id(synthesized, "DatabaseSetup/TaskPolicy/Resource"),
        _logical_id(synthesized, "DatabaseSetup/HandlerPolicy/Resource"),
    }


def test_database_setup_runs_before_the_services(synthesized: Synthesized) -> None:
    name, _ = synthesized.one("Custom::DatabaseSetup")
    service = synthesized.resources("AWS::ECS::Service")[_logical_id(synthesized, "DummyService/Service")]
    assert name in service["DependsOn"]


def test_database_setup_database_ingress_from_the_task_group_on_the_database_port(synthesized: Synthesized) -> None:
    ingress = synthesized.resources("AWS::EC2::SecurityGroupIngress")[
        _logical_id(synthesized, "DatabaseSetup/DatabaseIngress")
    ]["Properties"]
    assert ingress["GroupId"] == "sg-0123456789abcdef0"
    assert ingress["FromPort"] == ingress["ToPort"] == synthesized.env.db_port
    assert ingress["SourceSecurityGroupId"] == {
        "Fn::GetAtt": [_logical_id(synthesized, "DatabaseSetup/TaskSecurityGroup/Resource"), "GroupId"]
    }


def test_database_setup_handler_in_the_vpc_with_dlq_concurrency_and_encrypted_logs(synthesized: Synthesized) -> None:
    functions = synthesized.resources("AWS::Lambda::Function")
    function = functions[_logical_id(synthesized, "DatabaseSetup/Handler/Resource")]
    properties = function["Properties"]
    assert properties["VpcConfig"]["SubnetIds"] and properties["VpcConfig"]["SecurityGroupIds"]
    assert properties["ReservedConcurrentExecutions"] == 1
    assert properties["DeadLetterConfig"]["TargetArn"] == {
        "Fn::GetAtt": [_logical_id(synthesized, "DatabaseSetup/HandlerDeadLetters/Resource"), "Arn"]
    }
    assert "Environment" not in properties  # everything it needs comes with the request
    log_group = synthesized.resources("AWS::Logs::LogGroup")[properties["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [_logical_id(synthesized, "logsKey/Resource"), "Arn"]}
    assert "RetentionInDays" in log_group["Properties"]
    queues = synthesized.resources("AWS::SQS::Queue")
    queue = queues[_logical_id(synthesized, "DatabaseSetup/HandlerDeadLetters/Resource")]
    assert queue["Properties"]["KmsMasterKeyId"] == {
        "Fn::GetAtt": [_logical_id(synthesized, "computeKey/Resource"), "Arn"]
    }
    event_config = next(iter(synthesized.resources("AWS::Lambda::EventInvokeConfig").values()))
    assert event_config["Properties"]["MaximumRetryAttempts"] == 0


def test_database_setup_handler_role_least_privilege(synthesized: Synthesized) -> None:
    policy = synthesized.resources("AWS::IAM::ManagedPolicy")[
        _logical_id(synthesized, "DatabaseSetup/HandlerPolicy/Resource")
    ]
    by_action = {action: statement for statement in _statements(policy) for action in _actions(statement)}
    assert by_action["ecs:RunTask"]["Resource"] == {"Ref": _logical_id(synthesized, "DatabaseSetup/Task/Resource")}
    assert by_action["ecs:RunTask"]["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [
        _logical_id(synthesized, "Cluster/Resource"), "Arn"]}}}
    passed = by_action["iam:PassRole"]
    assert passed["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert sorted(r["Fn::GetAtt"][0] for r in passed["Resource"]) == sorted([
        _logical_id(synthesized, "DatabaseSetup/TaskRole/Resource"),
        _logical_id(synthesized, "DatabaseSetup/Task/ExecutionRole/Resource"),
    ])
    assert "ecs:DescribeTasks" in by_action and "ecs:StopTask" in by_action
    assert not any(a.endswith(":*") or a == "*" for a in by_action)
    assert not [a for a in by_action if a.startswith(("secretsmanager:", "rds-db:"))]
    # Every grant lives in that customer-managed policy: the role has no inline policy of CDK's.
    handler_role = _logical_id(synthesized, "DatabaseSetup/HandlerRole/Resource")
    assert not [p for p in synthesized.resources("AWS::IAM::Policy").values()
                if {"Ref": handler_role} in p["Properties"].get("Roles", [])]


def test_database_setup_nag_packs_only_the_expected_findings(synthesized: Synthesized) -> None:
    ours = {(f.rule, f.path) for f in synthesized.findings if f.path.startswith("DatabaseSetup/")}
    assert ours == EXPECTED_FINDINGS, "\n".join(sorted(map(str, ours ^ EXPECTED_FINDINGS)))


# --- the handler: start, poll until STOPPED, the container's exit code, CloudFormation's answer ---------


TASK_ARN = "arn:aws:ecs:eu-west-1:111111111111:task/platform-dev/0123456789abcdef"
PROPERTIES = {
    "Cluster": "arn:aws:ecs:eu-west-1:111111111111:cluster/platform-dev",
    "TaskDefinitionArn": "arn:aws:ecs:eu-west-1:111111111111:task-definition/setup:7",
    "ContainerName": CONTAINER_NAME,
    "Subnets": ["subnet-1", "subnet-2"],
    "SecurityGroups": ["sg-1"],
    "LogGroup": "setup-logs",
    "LogStreamPrefix": "database-setup",
}


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def ecs_stub() -> Iterator[tuple[Any, Stubber]]:
    client = _client("ecs")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def logs_stub() -> Iterator[tuple[Any, Stubber]]:
    client = _client("logs")
    with Stubber(client) as stubber:
        yield client, stubber


def _run_task_response() -> dict[str, Any]:
    return {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "PROVISIONING"}], "failures": []}


def _described(status: str, **container: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"taskArn": TASK_ARN, "lastStatus": status,
                            "containers": [{"name": CONTAINER_NAME, **container}]}
    if status == "STOPPED":
        task["stoppedReason"] = "Essential container in task exited"
    return {"tasks": [task], "failures": []}


def _expect_start(stubber: Stubber) -> None:
    stubber.add_response("run_task", _run_task_response(), {
        "cluster": PROPERTIES["Cluster"], "taskDefinition": PROPERTIES["TaskDefinitionArn"], "launchType": "FARGATE",
        "count": 1, "startedBy": handler.STARTED_BY,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"],
                                                         "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
    })


def _describe_params() -> dict[str, Any]:
    return {"cluster": PROPERTIES["Cluster"], "tasks": [TASK_ARN]}


def test_handler_polls_until_stopped_and_exit_0_succeeds(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    _expect_start(stubber)
    stubber.add_response("describe_tasks", _described("PENDING"), _describe_params())
    stubber.add_response("describe_tasks", _described("RUNNING"), _describe_params())
    stubber.add_response("describe_tasks", _described("STOPPED", exitCode=0), _describe_params())
    sleeps: list[float] = []
    arn = handler.run_setup_task(ecs, PROPERTIES, deadline=float("inf"), sleep=sleeps.append)
    assert arn == TASK_ARN and sleeps == [handler.POLL_SECONDS, handler.POLL_SECONDS]


def test_handler_exit_code_1_fails_with_the_log_stream_and_its_last_lines(
    ecs_stub: tuple[Any, Stubber], logs_stub: tuple[Any, Stubber]
) -> None:
    ecs, stubber = ecs_stub
    logs, log_stubber = logs_stub
    _expect_start(stubber)
    stubber.add_response("describe_tasks", _described("STOPPED", exitCode=1), _describe_params())
    stream = f"database-setup/{CONTAINER_NAME}/0123456789abcdef"
    log_stubber.add_response(
        "get_log_events",
        {"events": [{"message": "database setup: creating or repairing the roles"},
                    {"message": "database setup FAILED while connecting as the migration owner: refused"}]},
        {"logGroupName": "setup-logs", "logStreamName": stream, "limit": handler.LOG_LINES, "startFromHead": False},
    )
    with pytest.raises(handler.SetupTaskFailedError) as failed:
        handler.run_setup_task(ecs, PROPERTIES, deadline=float("inf"), logs=logs, sleep=lambda s: None)
    message = str(failed.value)
    assert "0123456789abcdef exited with code 1" in message and stream in message
    assert "FAILED while connecting as the migration owner" in message


def test_handler_container_that_never_ran_fails_with_the_stop_reason(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    _expect_start(stubber)
    stubber.add_response("describe_tasks", _described("STOPPED", reason="CannotPullContainerError: not found"),
                         _describe_params())
    with pytest.raises(handler.SetupTaskFailedError, match=r"did not run to completion \(CannotPullContainerError"):
        handler.run_setup_task(ecs, PROPERTIES, deadline=float("inf"), sleep=lambda s: None)


def test_handler_task_not_started_fails_with_ecs_reasons(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    stubber.add_response("run_task", {"tasks": [], "failures": [{"arn": "arn:x", "reason": "RESOURCE:ENI"}]})
    with pytest.raises(handler.SetupTaskFailedError, match="did not start the database setup task: RESOURCE:ENI"):
        handler.run_setup_task(ecs, PROPERTIES, deadline=float("inf"))


def test_handler_past_the_deadline_stops_the_task_and_fails(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    _expect_start(stubber)
    stubber.add_response("describe_tasks", _described("RUNNING"), _describe_params())
    stubber.add_response("stop_task", {"task": {"taskArn": TASK_ARN}},
                         {"cluster": PROPERTIES["Cluster"], "task": TASK_ARN,
                          "reason": "database setup: the deploy stopped waiting"})
    with pytest.raises(handler.SetupTaskFailedError, match=r"still RUNNING .* it was stopped"):
        handler.run_setup_task(ecs, PROPERTIES, deadline=10.0, clock=lambda: 11.0, sleep=lambda s: None)


def _event(request: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request, "ResponseURL": "https://example.com/response", "StackId": "stack",
            "RequestId": "req", "LogicalResourceId": "DatabaseSetupRun", "ResourceProperties": PROPERTIES, **extra}


def test_handler_delete_succeeds_without_calling_ecs(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, _ = ecs_stub
    status, reason, _ = handler.outcome(_event("Delete", PhysicalResourceId="p"), ecs=ecs, logs=None, deadline=0)
    assert status == "SUCCESS" and "forward-only" in reason


def test_handler_failure_answers_failed_with_the_reason_and_a_stable_id(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    _expect_start(stubber)
    stubber.add_response("describe_tasks", _described("STOPPED", exitCode=3), _describe_params())
    event = _event("Update", PhysicalResourceId="database-setup-DatabaseSetupRun")
    status, reason, data = handler.outcome(event, ecs=ecs, logs=None, deadline=float("inf"), sleep=lambda s: None)
    assert status == "FAILED" and "exited with code 3" in reason and data == {}
    sent: list[tuple[str, bytes]] = []
    handler.answer(event, status, reason * 100, data, put=lambda url, body: sent.append((url, body)))
    ((url, body),) = sent
    response = json.loads(body)
    assert url == "https://example.com/response" and response["Status"] == "FAILED"
    assert response["PhysicalResourceId"] == "database-setup-DatabaseSetupRun"
    assert len(body) < 4096 and response["Reason"].endswith(reason[-20:])


def test_handler_unexpected_error_still_answers(ecs_stub: tuple[Any, Stubber]) -> None:
    ecs, stubber = ecs_stub
    stubber.add_client_error("run_task", "AccessDeniedException", "not authorized")
    status, reason, _ = handler.outcome(_event("Create"), ecs=ecs, logs=None, deadline=float("inf"))
    assert status == "FAILED" and "AccessDeniedException" in reason


def test_handler_response_url_must_be_https() -> None:
    with pytest.raises(ValueError, match="https"):
        handler._put("http://example.com", b"{}")
