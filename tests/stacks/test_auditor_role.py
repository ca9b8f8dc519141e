"""The read-only auditor role `verify-deployed` runs as (issue 19): assumable by the configured principal only,
granted exactly the deployed-state reads of the permission contract, and no write; config refuses a principal
that is not an IAM principal or lives in another environment's account (P1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime import contract
from runtime.permissions import DEPLOYED_READS, deployed_read_actions
from stacks.config import ConfigError, load_config
from tests.stacks.conftest import Assembly
from tests.stacks.test_config import VALID, _write

READ_ONLY_VERBS = ("Describe", "List", "Get")


def _auditor(assembly: Assembly, env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    name = contract.auditor_role_name(assembly.config.app_name, env)
    roles = [r for _, _, r in assembly.resources(env, "AWS::IAM::Role") if r["Properties"].get("RoleName") == name]
    assert len(roles) == 1, f"no role {name} in {env}"
    policies = [p for _, _, p in assembly.resources(env, "AWS::IAM::ManagedPolicy")
                if any(isinstance(r, dict) and "Auditor" in str(r.get("Ref", "")) for r in p["Properties"]["Roles"])]
    assert len(policies) == 1
    return roles[0]["Properties"], policies[0]["Properties"]["PolicyDocument"]


@pytest.mark.parametrize("env", ["dev", "qa", "prod"])
def test_auditor_role_policy_equals_the_deployed_state_reads(operator: Assembly, env: str) -> None:
    role, document = _auditor(operator, env)
    statements = document["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow"] and statements[0]["Resource"] == "*"
    assert sorted(statements[0]["Action"]) == deployed_read_actions()
    principal = operator.config.environment(env).auditor_principal_arn
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"AWS": principal}}]


def test_auditor_role_reads_only() -> None:
    actions = deployed_read_actions()
    assert actions and all(a.split(":", 1)[1].startswith(READ_ONLY_VERBS) for a in actions)
    assert not {"kms:Decrypt", "s3:GetObject", "secretsmanager:GetSecretValue"} & set(actions)
    assert {use.method for use in DEPLOYED_READS} >= {"get_key_rotation_status", "get_trail_status",
                                                      "get_web_acl_for_resource", "list_backup_jobs"}


def test_auditor_role_selfhosted_names_the_customers_principal(selfhosted: Assembly) -> None:
    role, _ = _auditor(selfhosted, "acme")
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::444444444444:role/acme-compliance"}


@pytest.mark.parametrize(("line", "said"), [
    ('auditor_principal_arn = "auditor"', "environments.dev.auditor_principal_arn: 'auditor' is not an IAM role"),
    ('auditor_principal_arn = "arn:aws:iam::333333333333:role/auditor"',
     "environments.dev.auditor_principal_arn is of environment prod's account (333333333333): no IAM trust crosses "
     "environments (P1)"),
])
def test_config_auditor_principal_refused(tmp_path: Path, line: str, said: str) -> None:
    path = _write(tmp_path, VALID.replace('kind = "dev"', f'kind = "dev"\n{line}', 1))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert said in str(raised.value)


def test_config_auditor_principal_of_an_audit_account_accepted(tmp_path: Path) -> None:
    line = 'auditor_principal_arn = "arn:aws:iam::555555555555:role/auditor"'
    config = load_config(_write(tmp_path, VALID.replace('kind = "dev"', f'kind = "dev"\n{line}', 1)))
    assert config.environment("dev").auditor_principal_arn == "arn:aws:iam::555555555555:role/auditor"
    assert config.environment("prod").auditor_principal_arn is None
