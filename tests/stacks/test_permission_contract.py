"""P3-TaskPermissionContract (stacks/policy/rules/p3_task_permissions.py) on small templates laid out like a cloud
assembly: compliant fixtures, and one non-compliant fixture per failure branch, each asserting the detail its
branch reports. The rule is not in the pack yet (today's task definitions declare no commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime import settings
from stacks.config import EnvironmentConfig, PlatformConfig
from stacks.policy.rules import AssemblyView, Result, Status
from stacks.policy.rules.p3_task_permissions import TaskPermissionContract

DEV = EnvironmentConfig(name="dev", kind="dev", account="111111111111", region="eu-west-1", vpc_cidr="10.10.0.0/16")
CONFIG = PlatformConfig(source="fixture", app_name="adp", environments=(DEV,))
RULE = TaskPermissionContract()
MASTER_ARN = {"Fn::GetStackOutput": {"StackName": "adp-dev-data", "OutputName": "MasterSecretArn"}}
CONNECT = {"Effect": "Allow", "Action": "rds-db:connect", "Resource": "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*"}
READ_MASTER = {"Sid": "Master", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": MASTER_ARN}
SECRET_KEY = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:111111111111:key/db"}
IAM_AUTH = {settings.DATABASE_IAM_AUTH: "true"}


def _res(type_: str, props: dict[str, Any], path: str) -> dict[str, Any]:
    return {"Type": type_, "Properties": props, "Metadata": {"aws:cdk:path": f"dev/{path}"}}


def _data_stack() -> dict[str, Any]:
    cluster = _res("AWS::RDS::DBCluster", {"ManageMasterUserPassword": True, "MasterUsername": "platform_admin"},
                   "Data/Cluster/Resource")
    return {"Resources": {"Cluster": cluster},
            "Outputs": {"MasterSecretArn": {"Value": {"Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]}}}}


def _service_stack(commands: Any, statements: list[dict[str, Any]],
                   environ: dict[str, Any] | None = None) -> dict[str, Any]:
    variables = {**IAM_AUTH, **(environ or {})}
    if commands is not None:
        variables[settings.TASK_COMMANDS] = commands
    task = _res("AWS::ECS::TaskDefinition", {
        "TaskRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
        "ContainerDefinitions": [
            {"Name": "app", "Environment": [{"Name": k, "Value": v} for k, v in variables.items()]},
        ],
    }, "Service/Task/Resource")
    role = _res("AWS::IAM::Role", {"AssumeRolePolicyDocument": {}}, "Service/Role/Resource")
    policy = _res("AWS::IAM::Policy", {"PolicyName": "p", "Roles": [{"Ref": "Role"}],
                                       "PolicyDocument": {"Statement": statements}}, "Service/Role/Policy/Resource")
    return {"Resources": {"Task": task, "Role": role, "Policy": policy}}


def _evaluate(tmp_path: Path, service: dict[str, Any], data: dict[str, Any] | None = None) -> Result:
    folder = tmp_path / "assembly-dev"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, template in (("data", data or _data_stack()), ("service", service)):
        path = folder / f"{name}.template.json"
        path.write_text(json.dumps(template))
        paths.append(str(path))
    results = list(RULE.evaluate(AssemblyView(paths, CONFIG)))
    assert len(results) == 1
    return results[0]


def _non_compliant(result: Result, *fragments: str) -> None:
    assert result.status is Status.NON_COMPLIANT, result.detail
    for fragment in fragments:
        assert fragment in result.detail


def test_task_permissions_support_service_with_its_grant_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_setup_task_reads_master_secret_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("db setup", [CONNECT, READ_MASTER, SECRET_KEY]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_wildcard_actions_grant_compliant(tmp_path: Path) -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["rds-db:*", "kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "k"},
        {"Effect": "Allow", "Action": "s3:*Object", "Resource": "b/*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "b"},  # ListBucket: anything but IAM
    ]
    environ = {settings.KMS_APPLICATION_KEY_ID: {"Ref": "Key"}, settings.EXPORTS_BUCKET: "b"}
    result = _evaluate(tmp_path, _service_stack("serve owner,export verify", statements, environ))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_missing_action_non_compliant(tmp_path: Path) -> None:
    environ = {settings.KMS_APPLICATION_KEY_ID: {"Ref": "Key"}}
    result = _evaluate(tmp_path, _service_stack("serve owner", [CONNECT], environ))
    _non_compliant(result, "`serve owner` needs what Service/Role/Resource does not allow: "
                           "kms:GenerateDataKey on the application key, kms:Decrypt on the application key")


def test_task_permissions_deny_statement_grants_nothing_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [{**CONNECT, "Effect": "Deny"}]))
    _non_compliant(result, "rds-db:connect on the database user")


def test_task_permissions_no_declaration_non_compliant(tmp_path: Path) -> None:
    _non_compliant(_evaluate(tmp_path, _service_stack(None, [CONNECT])), "declare the commands this task runs")


def test_task_permissions_computed_declaration_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack({"Ref": "Commands"}, [CONNECT]))
    _non_compliant(result, "must be a literal list of commands")


def test_task_permissions_unknown_command_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support,export all", [CONNECT]))
    _non_compliant(result, "declares `export all`, which is not a runtime command")


def test_task_permissions_job_reads_master_secret_by_arn_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("erase register", [CONNECT, READ_MASTER]))
    _non_compliant(result, "Service/Role/Resource can read the database's master secret (Service/Role/Policy/Resource, "
                           "Sid Master), but none of its commands (erase register) needs it")


def test_task_permissions_master_secret_by_star_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": "*"}]))
    _non_compliant(result, "can read the database's master secret")


def test_task_permissions_master_secret_by_wildcard_arn_non_compliant(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!*"
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": arn}]))
    _non_compliant(result, "can read the database's master secret")


def test_task_permissions_other_secret_by_wildcard_arn_compliant(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:adp-dev/audit-*"
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": arn}]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_master_secret_through_managed_policy_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Managed"] = _res("AWS::IAM::ManagedPolicy", {
        "Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": [{**READ_MASTER, "Action": "secretsmanager:Get*"}]},
    }, "Service/Managed/Resource")
    _non_compliant(_evaluate(tmp_path, service), "can read the database's master secret (Service/Managed/Resource")


def test_task_permissions_master_secret_through_managed_policy_arns_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Managed"] = _res("AWS::IAM::ManagedPolicy", {
        "PolicyDocument": {"Statement": [READ_MASTER]}}, "Service/Managed/Resource")
    service["Resources"]["Role"]["Properties"]["ManagedPolicyArns"] = [{"Ref": "Managed"}]
    _non_compliant(_evaluate(tmp_path, service), "can read the database's master secret (Service/Managed/Resource")


def test_task_permissions_master_secret_inline_attached_secret_non_compliant(tmp_path: Path) -> None:
    data = {"Resources": {
        "Secret": _res("AWS::SecretsManager::Secret", {"Name": "adp-dev-db-admin"}, "Data/Secret/Resource"),
        "Cluster": _res("AWS::RDS::DBCluster", {"MasterUsername": {"Fn::Join": ["", [
            "{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:username}}"]]}}, "Data/Cluster/Resource"),
    }, "Outputs": {"SecretArn": {"Value": {"Ref": "Secret"}}}}
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Role"]["Properties"]["Policies"] = [{"PolicyName": "inline", "PolicyDocument": {
        "Statement": [{**READ_MASTER, "Resource": {"Fn::ImportValue": "adp-dev-data:SecretArn"}}]}}]
    _non_compliant(_evaluate(tmp_path, service, data), "can read the database's master secret (Service/Role/Resource "
                                                       "(inline inline)")


def test_task_permissions_unreadable_managed_policy_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    managed = ["arn:aws:iam::aws:policy/SecretsManagerReadWrite"]
    service["Resources"]["Role"]["Properties"]["ManagedPolicyArns"] = managed
    _non_compliant(_evaluate(tmp_path, service), "attaches the managed policy", "which the rule cannot read")


def test_task_permissions_role_outside_templates_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Task"]["Properties"]["TaskRoleArn"] = "arn:aws:iam::111111111111:role/imported"
    _non_compliant(_evaluate(tmp_path, service), "is not a role in this environment's templates")


def test_task_permissions_breach_drill_reading_master_non_compliant(tmp_path: Path) -> None:
    """The contract, not the rule, says who may: `breach drill` makes its scratch database as the drill role now."""
    result = _evaluate(tmp_path, _service_stack("breach drill", [CONNECT, READ_MASTER, SECRET_KEY]))
    _non_compliant(result, "can read the database's master secret", "only the setup step may")


def test_task_permissions_breach_drill_with_its_database_users_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("breach drill", [CONNECT]))
    assert result.status is Status.COMPLIANT, result.detail

