"""Per-organisation keys in the templates (issue 15, P6, P10): the keyring settings of each environment's tasks,
the organisation-key grants of the data service and the lifecycle job (the control plane: the only role that may
create organisation keys and schedule their deletion), the fence on administration, and the P3 permission rule
passing on the real templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime import contract, settings
from runtime.envelope.keyrings.base import PURPOSE
from runtime.permissions import parse_declaration
from stacks.policy.rules import Status
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import statements

PER_ORG = "per-organisation"
ORG_KEY_COMMANDS = {"org provision-keys", "org key-state", "org register-key", "org cancel-key-deletion",
                    "org migrate-keys"}
ORG_ALIASES = "alias/adp-{env}-org-*"


def _installs(operator: Assembly, selfhosted: Assembly) -> list[tuple[Assembly, str]]:
    return [(operator, env) for env in ("dev", "qa", "prod")] + [
        (selfhosted, e.name) for e in selfhosted.config.environments]


def _tasks(assembly: Assembly, env: str) -> dict[str, dict[str, Any]]:
    """Each task definition's container variables, by the first command it declares."""
    found: dict[str, dict[str, Any]] = {}
    for _, lid, task in assembly.resources(env, "AWS::ECS::TaskDefinition"):
        for container in task["Properties"]["ContainerDefinitions"]:
            variables = {item["Name"]: item["Value"] for item in container.get("Environment", [])}
            declared = parse_declaration(str(variables.get(settings.TASK_COMMANDS, "")))
            found[declared[0] if declared else lid] = variables
    return found


def _role_statements(assembly: Assembly, env: str, role: str) -> list[dict[str, Any]]:
    return [s for _, lid, policy in assembly.resources(env, "AWS::IAM::ManagedPolicy")
            if lid.startswith(role) for s in statements(policy)]


def _all_statements(assembly: Assembly, env: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for _, lid, policy in assembly.resources(env, kind):
            found.setdefault(lid, []).extend(statements(policy))
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return action if isinstance(action, list) else [action]


def _by_sid(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in items if "Sid" in s}


def test_keyring_settings_per_environment_shared_dev_per_organisation_elsewhere(operator: Assembly,
                                                                               selfhosted: Assembly) -> None:
    for assembly, env in _installs(operator, selfhosted):
        mode = assembly.config.environment(env).keyring_mode
        tasks = _tasks(assembly, env)
        data, job = tasks["serve owner"], tasks["export"]
        assert (env, data[settings.KEYRING_MODE], job[settings.KEYRING_MODE]) == (env, mode, mode)
        if mode == PER_ORG:
            assert data[settings.APP_NAME] == job[settings.APP_NAME] == assembly.config.app_name
        else:
            assert env == "dev" and settings.APP_NAME not in data and settings.APP_NAME not in job
        for command, variables in tasks.items():
            if command not in ("serve owner", "export"):  # support, drill, restore, setup: no organisation keys
                assert settings.APP_NAME not in variables, (env, command)
    assert {e: operator.config.environment(e).keyring_mode for e in ("dev", "qa", "prod")} == {
        "dev": "shared", "qa": PER_ORG, "prod": PER_ORG}


def test_keyring_job_settings_name_runtime_roles_admin_and_pending_days(operator: Assembly,
                                                                        selfhosted: Assembly) -> None:
    for assembly, env in _installs(operator, selfhosted):
        config = assembly.config.environment(env)
        job = _tasks(assembly, env)["export"]
        assert job[settings.KEY_DELETION_PENDING_DAYS] == str(config.key_deletion_pending_days) == "7"
        declared = set(parse_declaration(job[settings.TASK_COMMANDS]))
        if config.keyring_mode != PER_ORG:
            assert not declared & ORG_KEY_COMMANDS and settings.ORGANISATION_KEY_ADMIN_ROLE_ARN not in job
            continue
        job_role = f"arn:aws:iam::{config.account}:role/{contract.lifecycle_job_role_name('adp', env)}"
        assert declared >= ORG_KEY_COMMANDS
        assert job[settings.ORGANISATION_KEY_ADMIN_ROLE_ARN] == job_role
        users = job[settings.ORGANISATION_KEY_USER_ROLE_ARNS]
        assert users["Fn::Join"][0] == ","
        [data_role, named] = users["Fn::Join"][1]
        assert data_role["Fn::GetAtt"][0].startswith("DataTaskRole") and named == job_role


@pytest.mark.parametrize("role", ["DataTaskRole", "LifecycleJobRole"])
def test_organisation_data_keys_grant_tagged_keys_with_environment_context(operator: Assembly, selfhosted: Assembly,
                                                                           role: str) -> None:
    for assembly, env in _installs(operator, selfhosted):
        config = assembly.config.environment(env)
        use = _by_sid(_role_statements(assembly, env, role)).get("OrganisationDataKeysOfThisEnvironmentOnly")
        if config.keyring_mode != PER_ORG:
            assert use is None
            continue
        # kms:Encrypt only for the job's `org migrate-keys` (re-wrapping under the organisation's key).
        rewrap = ["kms:Encrypt"] if role == "LifecycleJobRole" else []
        assert use is not None and sorted(_actions(use)) == sorted(["kms:Decrypt", "kms:GenerateDataKey", *rewrap])
        assert use["Resource"] == "*"
        assert use["Condition"] == {
            "StringEquals": {
                "aws:ResourceAccount": config.account,
                "aws:ResourceTag/platform:environment": env,
                "aws:ResourceTag/platform:app": "adp",
                "kms:EncryptionContext:environment": env,
                "kms:EncryptionContext:purpose": PURPOSE,
            },
            "Null": {"kms:EncryptionContext:organisation": "false"},
            "ForAnyValue:StringLike": {"kms:ResourceAliases": ORG_ALIASES.format(env=env)},
        }


@pytest.mark.parametrize("role", ["DataTaskRole", "LifecycleJobRole"])
def test_customer_keys_grant_other_accounts_keys_with_environment_context_only(operator: Assembly,
                                                                              selfhosted: Assembly, role: str) -> None:
    """BYOK: organisations' own keys (other accounts, this region), data keys with this environment's context;
    never this account's keys; and their state and rotation."""
    for assembly, env in _installs(operator, selfhosted):
        config = assembly.config.environment(env)
        found = _by_sid(_role_statements(assembly, env, role))
        use, read = found.get("CustomerKeysDataKeysWithThisEnvironmentsContextOnly"), found.get(
            "CustomerKeysStateAndRotation")
        if config.keyring_mode != PER_ORG:
            assert use is None and read is None
            continue
        keys = f"arn:aws:kms:{config.region}:*:key/*"
        assert use is not None and sorted(_actions(use)) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert use["Resource"] == keys
        assert use["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:environment": env, "kms:EncryptionContext:purpose": PURPOSE},
            "StringNotEquals": {"aws:ResourceAccount": config.account},
            "Null": {"kms:EncryptionContext:organisation": "false"},
        }
        # Both check a customer's key as their own role: the data service when the admin registers it, the job
        # before it activates it (`org provision-keys --pending`, `org register-key`).
        assert read is not None and sorted(_actions(read)) == ["kms:DescribeKey", "kms:GetKeyRotationStatus"]
        assert read["Resource"] == keys
        assert read["Condition"] == {"StringNotEquals": {"aws:ResourceAccount": config.account}}


def test_organisation_key_administration_conditions_on_job_role(operator: Assembly, selfhosted: Assembly) -> None:
    for assembly, env in _installs(operator, selfhosted):
        config = assembly.config.environment(env)
        if config.keyring_mode != PER_ORG:
            continue
        found = _by_sid(_role_statements(assembly, env, "LifecycleJobRole"))
        tag_keys = {"ForAllValues:StringEquals": {"aws:TagKeys": [
            "platform:environment", "platform:app", "platform:organisation"]}}
        request_tags = {"aws:RequestTag/platform:environment": env, "aws:RequestTag/platform:app": "adp"}
        create = found["CreateSymmetricOrganisationKeysTaggedForThisEnvironment"]
        assert _actions(create) == ["kms:CreateKey"] and create["Resource"] == "*"
        assert create["Condition"] == {
            "StringEquals": {**request_tags, "kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT"},
            **tag_keys, "Null": {"aws:RequestTag/platform:organisation": "false"}}
        tag = found["TagOrganisationKeysForThisEnvironmentOnly"]
        assert _actions(tag) == ["kms:TagResource"]
        assert tag["Condition"]["StringEquals"] == request_tags and tag_keys.items() <= tag["Condition"].items()
        tagged = {"aws:ResourceAccount": config.account, "aws:ResourceTag/platform:environment": env,
                  "aws:ResourceTag/platform:app": "adp"}
        manage = found["ManageThisEnvironmentsOrganisationKeys"]
        assert sorted(_actions(manage)) == ["kms:CancelKeyDeletion", "kms:DescribeKey", "kms:EnableKey",
                                            "kms:EnableKeyRotation"]
        assert manage["Condition"]["StringEquals"] == tagged
        delete = found["ScheduleDeletionOfThisEnvironmentsOrganisationKeys"]
        assert _actions(delete) == ["kms:ScheduleKeyDeletion"]
        assert delete["Condition"]["StringEquals"] == tagged
        assert delete["Condition"]["NumericGreaterThanEquals"] == {
            "kms:ScheduleKeyDeletionPendingWindowInDays": config.key_deletion_pending_days}
        alias = found["AliasOrganisationKeysOfThisAccount"]
        assert _actions(alias) == ["kms:CreateAlias"]
        fence = found["OrganisationKeyAdministrationOnThisEnvironmentsKeysAndAliasesOnly"]
        assert fence["Effect"] == "Deny" and "Resource" not in fence
        assert set(_actions(fence)) >= {"kms:CreateAlias", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"}
        rendered = json.dumps(fence["NotResource"])
        assert f":{config.region}:{config.account}:key/*" in rendered
        assert f":{config.region}:{config.account}:{ORG_ALIASES.format(env=env)}" in rendered


def test_organisation_key_create_and_delete_only_lifecycle_job_role(operator: Assembly,
                                                                    selfhosted: Assembly) -> None:
    """No other IAM policy of the environment (any stack) allows kms:CreateKey or kms:ScheduleKeyDeletion."""
    for assembly, env in _installs(operator, selfhosted):
        holders = {lid for lid, items in _all_statements(assembly, env).items() for s in items
                   if s.get("Effect") == "Allow" and {"kms:CreateKey", "kms:ScheduleKeyDeletion", "kms:*"}
                   & set(_actions(s))}
        per_org = assembly.config.environment(env).keyring_mode == PER_ORG
        assert {h.startswith("LifecycleJobRolePolicy") for h in holders} == ({True} if per_org else set()), (
            env, holders)


def test_organisation_keys_task_permission_rule_compliant_on_real_templates(operator: Assembly,
                                                                           selfhosted: Assembly) -> None:
    for assembly in (operator, selfhosted):
        results = [r for r in assembly.outcome.policy_results if r.rule == "P3-TaskPermissionContract"]
        assert results and all(r.status is Status.COMPLIANT for r in results), [
            r.detail for r in results if r.status is not Status.COMPLIANT]


def test_key_provisioning_schedule_runs_the_job_with_provision_pending(operator: Assembly,
                                                                       selfhosted: Assembly) -> None:
    """Per-organisation keys: one EventBridge rule runs the lifecycle job's task definition every
    KEY_PROVISIONING_MINUTES with `org provision-keys --pending` (registrations complete without an operator); its
    role may run only that task definition on the environment's cluster and pass only the job's roles. Shared: none."""
    for assembly, env in _installs(operator, selfhosted):
        rules = [r for _, _, r in assembly.resources(env, "AWS::Events::Rule")
                 if any("EcsParameters" in t for t in r["Properties"].get("Targets", []))]
        if assembly.config.environment(env).keyring_mode != PER_ORG:
            assert rules == [], env
            continue
        [rule] = rules
        [target] = rule["Properties"]["Targets"]
        assert rule["Properties"]["ScheduleExpression"] == f"rate({contract.KEY_PROVISIONING_MINUTES} minutes)"
        job = target["EcsParameters"]["TaskDefinitionArn"]["Ref"]
        assert job.startswith("LifecycleJob") and target["EcsParameters"]["LaunchType"] == "FARGATE"
        overrides = json.loads(target["Input"])["containerOverrides"]
        assert overrides == [{"name": "job", "command": list(contract.PROVISION_PENDING_COMMAND)}]
        found = _by_sid(_role_statements(assembly, env, "KeyProvisioningRolePolicy"))
        run, passes = found["RunTheKeyProvisioningTaskOnThisCluster"], found["PassTheJobsRolesToEcsTasks"]
        assert _actions(run) == ["ecs:RunTask"] and run["Resource"] == {"Ref": job}
        assert "ecs:cluster" in run["Condition"]["ArnEquals"]
        assert sorted(r["Fn::GetAtt"][0][:len("LifecycleJob")] for r in passes["Resource"]) == ["LifecycleJob"] * 2
        assert passes["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
        assert not [lid for lid, _ in _all_statements(assembly, env).items() if lid.startswith("KeyProvisioning")
                    and not lid.startswith("KeyProvisioningRolePolicy")], "no inline policy on the events role"
