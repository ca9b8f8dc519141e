"""The erasure receipts' signing key (P10): asymmetric ECC_NIST_P256 SIGN_VERIFY in every environment, kms:Sign
only for the lifecycle job's role (its key policy denies everyone else; only that role's policy grants it),
kms:GetPublicKey for the job and the data service, the key ARN on both task definitions; and the P6 rule's
rotation check, which knows that KMS cannot rotate an asymmetric signing key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime import contract, settings
from stacks.config import EnvironmentConfig, PlatformConfig
from stacks.policy.rules import ALL_RULES, AssemblyView, Status
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import statements

ENVIRONMENTS = ("dev", "qa", "prod")
P6 = next(rule for rule in ALL_RULES if rule.id == "P6-CustomerManagedKeys")
DEV = EnvironmentConfig(name="dev", kind="dev", account="111111111111", region="eu-west-1", vpc_cidr="10.10.0.0/16")
CONFIG = PlatformConfig(source="fixture", app_name="adp", environments=(DEV,))


def _signing_key(assembly: Assembly, env: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(lid, r) for _, lid, r in assembly.resources(env, "AWS::KMS::Key")
                if r["Properties"].get("KeyUsage") == "SIGN_VERIFY" and lid.startswith("ReceiptSigningKey")]
    return found


def _policies(assembly: Assembly, env: str) -> dict[str, dict[str, Any]]:
    return {lid: r for _, lid, r in assembly.resources(env, "AWS::IAM::ManagedPolicy")}


def _task_variables(assembly: Assembly, env: str) -> list[dict[str, Any]]:
    return [{item["Name"]: item["Value"] for item in container.get("Environment", [])}
            for _, _, task in assembly.resources(env, "AWS::ECS::TaskDefinition")
            for container in task["Properties"]["ContainerDefinitions"]]


def test_receipt_signing_key_asymmetric_p256_sign_verify_every_environment(operator: Assembly,
                                                                          selfhosted: Assembly) -> None:
    installs = ((operator, ENVIRONMENTS), (selfhosted, tuple(e.name for e in selfhosted.config.environments)))
    for assembly, envs in installs:
        for env in envs:
            _, key = _signing_key(assembly, env)
            props = key["Properties"]
            assert props["KeySpec"] == "ECC_NIST_P256" and props["KeyUsage"] == "SIGN_VERIFY"
            assert props["EnableKeyRotation"] is False  # KMS cannot rotate asymmetric keys


def test_receipt_signing_key_policy_denies_sign_to_all_but_job_role(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        _, key = _signing_key(operator, env)
        account = operator.config.environment(env).account
        job_role = f"arn:aws:iam::{account}:role/{contract.lifecycle_job_role_name('adp', env)}"
        policy = key["Properties"]["KeyPolicy"]["Statement"]
        denies = [s for s in policy if s["Effect"] == "Deny"]
        assert denies == [{
            "Sid": "OnlyTheLifecycleJobSignsReceipts", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "kms:Sign", "Resource": "*", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": job_role}},
        }]
        # No other statement names a principal outside the account (P1).
        assert all(s["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"} for s in policy if s["Effect"] == "Allow")


def test_receipt_signing_key_sign_granted_to_job_role_only(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        key_id, _ = _signing_key(operator, env)
        signers, readers = set(), set()
        for lid, policy in _policies(operator, env).items():
            for statement in statements(policy):
                if key_id not in json.dumps(statement.get("Resource")):
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "kms:Sign" in actions:
                    signers.add(lid)
                if "kms:GetPublicKey" in actions:
                    readers.add(lid)
        assert {lid.split("Policy")[0] for lid in signers} == {"LifecycleJobRole"}
        assert {lid.split("Policy")[0] for lid in readers} == {"LifecycleJobRole", "DataTaskRole"}


def test_receipt_signing_key_arn_on_job_and_data_service_only(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        key_id, _ = _signing_key(operator, env)
        named = {variables[settings.SERVICE_MODE] + ":" + variables.get(settings.TASK_COMMANDS, "").split(",")[0]
                 for variables in _task_variables(operator, env) if settings.RECEIPT_SIGNING_KEY_ID in variables}
        assert named == {"owner:serve owner", "job:export"}
        for variables in _task_variables(operator, env):
            if settings.RECEIPT_SIGNING_KEY_ID in variables:
                assert key_id in json.dumps(variables[settings.RECEIPT_SIGNING_KEY_ID])


# --- P6-CustomerManagedKeys: rotation of every key, signing keys excepted ---------------------------------


def _view(tmp_path: Path, key: dict[str, Any]) -> AssemblyView:
    folder = tmp_path / "assembly-dev"
    folder.mkdir(parents=True)
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": key,
                                      "Metadata": {"aws:cdk:path": "dev/Keys/Key/Resource"}}}}
    path = folder / "adp-dev-keys.template.json"
    path.write_text(json.dumps(template))
    return AssemblyView([str(path)], CONFIG)


def _results(tmp_path: Path, key: dict[str, Any]) -> list[tuple[Status, str]]:
    return [(r.status, r.detail) for r in P6.evaluate(_view(tmp_path, key))]


def test_p6_asymmetric_signing_key_without_rotation_compliant(tmp_path: Path) -> None:
    [(status, detail)] = _results(tmp_path, {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                                             "EnableKeyRotation": False})
    assert status is Status.COMPLIANT and "KMS cannot rotate it" in detail


def test_p6_symmetric_key_without_rotation_non_compliant(tmp_path: Path) -> None:
    [(status, detail)] = _results(tmp_path, {"EnableKeyRotation": False})
    assert status is Status.NON_COMPLIANT and "rotation OFF" in detail


def test_p6_asymmetric_encryption_key_without_rotation_non_compliant(tmp_path: Path) -> None:
    """Only SIGN_VERIFY is excused: an RSA ENCRYPT_DECRYPT key without rotation is not a signing key."""
    [(status, _)] = _results(tmp_path, {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"})
    assert status is Status.NON_COMPLIANT


def test_p6_store_encrypted_with_signing_key_non_compliant(tmp_path: Path) -> None:
    view_dir = tmp_path / "assembly-dev"
    view_dir.mkdir(parents=True)
    key = {"Type": "AWS::KMS::Key", "Properties": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
           "Metadata": {"aws:cdk:path": "dev/Keys/Key/Resource"}}
    logs = {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
            "Metadata": {"aws:cdk:path": "dev/Keys/Logs/Resource"}}
    path = view_dir / "adp-dev-keys.template.json"
    path.write_text(json.dumps({"Resources": {"Key": key, "Logs": logs}}))
    details = [r.detail for r in P6.evaluate(AssemblyView([str(path)], CONFIG)) if r.status is Status.NON_COMPLIANT]
    assert any("is a signing key: it cannot encrypt a store" in d for d in details)
