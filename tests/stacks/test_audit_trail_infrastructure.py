"""The audit trail's infrastructure (P14): the checkpoint bucket (Object Lock: COMPLIANCE in prod, GOVERNANCE in dev
and qa, retention from config; SSE-KMS; TLS only; only the sequencer writes, nobody shortens a retention), the
audit-signing key (kms:Sign for the sequencer's role only, GetPublicKey for the verifying job), and the sequencer's
own service (no load balancer, one task, `audit sequence` as platform_sequencer)."""

from __future__ import annotations

import json
from typing import Any

from runtime import contract, settings
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import statements

ENVIRONMENTS = ("dev", "qa", "prod")


def _one(assembly: Assembly, env: str, resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(lid, r) for _, lid, r in assembly.resources(env, resource_type) if lid.startswith(prefix)]
    return found


def _role_arn(assembly: Assembly, env: str) -> str:
    account = assembly.config.environment(env).account
    return f"arn:aws:iam::{account}:role/{contract.audit_sequencer_role_name('adp', env)}"


def test_checkpoint_bucket_object_lock_mode_and_retention_per_environment(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        _, bucket = _one(operator, env, "AWS::S3::Bucket", "AuditCheckpoints")
        props = bucket["Properties"]
        retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        config = operator.config.environment(env)
        assert props["ObjectLockEnabled"] is True and props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert retention == {"Mode": "COMPLIANCE" if env == "prod" else "GOVERNANCE",
                             "Days": config.audit_checkpoint_retention_days}
        assert retention["Days"] >= config.longest_backup_retention_days
        assert "LifecycleConfiguration" not in props  # checkpoints are never expired
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert rule["SSEAlgorithm"] == "aws:kms" and "AuditKey" in json.dumps(rule["KMSMasterKeyID"])
        assert props["BucketNamePrefix"] == contract.audit_checkpoints_bucket_prefix("adp", env)


def test_checkpoint_bucket_policy_tls_only_sequencer_writes_nobody_bypasses(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        bucket_id, _ = _one(operator, env, "AWS::S3::Bucket", "AuditCheckpoints")
        policies = [r for _, _, r in operator.resources(env, "AWS::S3::BucketPolicy")
                    if bucket_id in json.dumps(r["Properties"]["Bucket"])]
        (policy,) = policies
        every = policy["Properties"]["PolicyDocument"]["Statement"]
        found = {s["Sid"]: s for s in every if "Sid" in s}
        tls = [s for s in every if "aws:SecureTransport" in json.dumps(s.get("Condition", {}))]
        assert tls and all(s["Effect"] == "Deny" for s in tls)
        writes = found["OnlyTheAuditSequencerWritesCheckpoints"]
        assert writes["Effect"] == "Deny" and writes["Action"] == "s3:PutObject"
        assert writes["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": _role_arn(operator, env)}}
        locked = found["NobodyShortensOrBypassesCheckpointRetention"]
        assert locked["Effect"] == "Deny" and "Condition" not in locked
        assert {"s3:BypassGovernanceRetention", "s3:PutObjectRetention", "s3:DeleteObjectVersion"} <= set(
            locked["Action"])


def test_audit_signing_key_p256_sign_denied_to_all_but_the_sequencer(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        key_id, key = _one(operator, env, "AWS::KMS::Key", "AuditSigningKey")
        props = key["Properties"]
        assert (props["KeySpec"], props["KeyUsage"], props["EnableKeyRotation"]) == ("ECC_NIST_P256", "SIGN_VERIFY",
                                                                                     False)
        denies = [s for s in props["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
        assert denies == [{
            "Sid": "OnlyTheAuditSequencerSignsCheckpoints", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "kms:Sign", "Resource": "*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": _role_arn(operator, env)}},
        }]
        signers, readers = set(), set()
        for _, lid, policy in operator.resources(env, "AWS::IAM::ManagedPolicy"):
            for statement in statements(policy):
                if key_id not in json.dumps(statement.get("Resource")):
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "kms:Sign" in actions:
                    signers.add(lid.split("Policy")[0])
                if "kms:GetPublicKey" in actions:
                    readers.add(lid.split("Policy")[0])
        assert signers == {"AuditSequencerRole"}
        assert readers == {"AuditSequencerRole", "LifecycleJobRole"}


def test_sequencer_is_one_task_without_load_balancer_as_its_own_database_user(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        _, service = _one(operator, env, "AWS::ECS::Service", "AuditSequencer")
        props = service["Properties"]
        assert props["DesiredCount"] == 1 and not props.get("LoadBalancers")
        assert props["DeploymentConfiguration"]["MaximumPercent"] == 100  # never two on a deploy
        _, task = _one(operator, env, "AWS::ECS::TaskDefinition", "AuditSequencer")
        (container,) = task["Properties"]["ContainerDefinitions"]
        variables = {v["Name"]: v["Value"] for v in container["Environment"]}
        assert container["Command"] == ["python", "-m", "runtime", "audit", "sequence"]
        assert "PortMappings" not in container or not container["PortMappings"]
        assert variables[settings.TASK_COMMANDS] == "audit sequence"
        assert variables[settings.DATABASE_USER] == contract.SEQUENCER_ROLE
        config = operator.config.environment(env)
        assert variables[settings.AUDIT_CHECKPOINT_EVERY] == str(config.audit_checkpoint_every)
        assert variables[settings.AUDIT_CHECKPOINT_BUCKET] == contract.audit_checkpoints_bucket_name(
            "adp", env, config.account, config.region)
