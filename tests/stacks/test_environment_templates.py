"""Behaviour of the synthesized operator environments (dev, qa, prod), read from their templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.classification import CLASSIFICATION_TAG, DataClass
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import get, tags, walk

ENVIRONMENTS = ("dev", "qa", "prod")

# Where each encryptable resource type names its KMS key, and which key purpose it must use.
ENCRYPTION_PROPERTIES: dict[str, list[tuple[str, str]]] = {
    "AWS::Logs::LogGroup": [("KmsKeyId", "LogsKey")],
    "AWS::RDS::DBCluster": [("KmsKeyId", "DatabaseKey"), ("MasterUserSecret.KmsKeyId", "DatabaseKey")],
    "AWS::RDS::DBInstance": [("PerformanceInsightsKMSKeyId", "DatabaseKey")],
    "AWS::Backup::BackupVault": [("EncryptionKeyArn", "BackupsKey")],
    "AWS::SNS::Topic": [("KmsMasterKeyId", "AuditKey")],
    "AWS::SecretsManager::Secret": [("KmsKeyId", "ApplicationKey")],
    "AWS::CloudTrail::Trail": [("KMSKeyId", "AuditKey")],
    "AWS::ECS::Cluster": [("Configuration.ManagedStorageConfiguration.FargateEphemeralStorageKmsKeyId", "ComputeKey")],
    "AWS::S3::Bucket": [
        ("BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.KMSMasterKeyID", "")
    ],
}
# The one store that cannot use a CMK: S3 server access logs and ALB access logs need SSE-S3 (AES-256).
SSE_S3_ONLY = ("AccessLogs",)
DATA_STORES = (
    "AWS::Logs::LogGroup",
    "AWS::RDS::DBCluster",
    "AWS::Backup::BackupVault",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
)


def _referenced_stacks(template: dict[str, Any]) -> set[str]:
    names = set()
    for node in walk(template):
        if isinstance(node, dict) and "Fn::GetStackOutput" in node:
            names.add(node["Fn::GetStackOutput"]["StackName"])
        if isinstance(node, dict) and "Fn::ImportValue" in node:
            names.add(str(node["Fn::ImportValue"]).split(":")[0])
    return names


def _is_own_key(reference: Any, env: str, purpose: str, template: dict[str, Any]) -> bool:
    """A key reference is the environment's own CMK of `purpose`: exported from its keys stack, or a
    KMS key defined in the same template (the cross-region copy stack owns its key)."""
    if isinstance(reference, dict) and "Fn::GetStackOutput" in reference:
        output = reference["Fn::GetStackOutput"]
        return output["StackName"] == f"adp-{env}-keys" and purpose in output["OutputName"]
    if isinstance(reference, dict) and "Fn::ImportValue" in reference:
        stack_name, _, output_name = str(reference["Fn::ImportValue"]).partition(":")
        return stack_name == f"adp-{env}-keys" and purpose in output_name
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        logical_id = reference["Fn::GetAtt"][0]
        return template["Resources"][logical_id]["Type"] == "AWS::KMS::Key"
    return False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_own_vpc_and_keys(operator: Assembly, env: str) -> None:
    vpcs = list(operator.resources(env, "AWS::EC2::VPC"))
    assert len(vpcs) == 1
    assert vpcs[0][2]["Properties"]["CidrBlock"] == operator.config.environment(env).vpc_cidr
    aliases = {r["Properties"]["AliasName"] for _, _, r in operator.resources(env, "AWS::KMS::Alias")}
    for purpose in ("database", "application", "logs", "backups", "exports"):
        assert f"alias/adp/{env}/{purpose}" in aliases


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_references_nothing_of_another_environment(operator: Assembly, env: str) -> None:
    own = operator.config.environment(env)
    others = [e for e in operator.config.environments if e.name != env]
    for stack_name, template in operator.env_templates(env).items():
        for referenced in _referenced_stacks(template):
            assert referenced.startswith(f"adp-{env}-"), f"{stack_name} references {referenced}"
        text = json.dumps(template)
        for other in others:
            assert other.account not in text or other.account == own.account, (
                f"{stack_name} names {other.name}'s account"
            )
            assert other.vpc_cidr not in text, f"{stack_name} names {other.name}'s CIDR"
            assert f"adp-{other.name}-" not in text and f"alias/adp/{other.name}/" not in text
        for _, resource in template.get("Resources", {}).items():
            assert resource["Type"] not in ("AWS::EC2::VPCPeeringConnection", "AWS::EC2::TransitGatewayAttachment")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_key_rotates_and_prod_keys_are_retained(operator: Assembly, env: str) -> None:
    keys = list(operator.resources(env, "AWS::KMS::Key"))
    assert len(keys) >= 5
    for stack_name, logical_id, key in keys:
        if key["Properties"].get("KeyUsage") == "SIGN_VERIFY":
            # An asymmetric signing key (erasure receipts) cannot rotate in KMS; it encrypts nothing (P6 rule).
            assert key["Properties"].get("KeySpec") == "ECC_NIST_P256", f"{stack_name}/{logical_id}"
            assert not key["Properties"].get("EnableKeyRotation"), f"{stack_name}/{logical_id}"
        else:
            assert key["Properties"]["EnableKeyRotation"] is True, f"{stack_name}/{logical_id}"
        expected = "Retain" if env == "prod" else "Delete"
        assert key["DeletionPolicy"] == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_encryptable_resource_uses_the_environments_own_cmk(operator: Assembly, env: str) -> None:
    checked = 0
    for stack_name, template in operator.env_templates(env).items():
        for logical_id, resource in template["Resources"].items():
            for prop, purpose in ENCRYPTION_PROPERTIES.get(resource["Type"], []):
                if resource["Type"] == "AWS::Backup::BackupVault" and stack_name.endswith("backup-copy"):
                    purpose = "BackupsCopyKey"
                if resource["Type"] == "AWS::S3::Bucket":
                    if logical_id.startswith(SSE_S3_ONLY):
                        assert "AES256" in json.dumps(resource["Properties"]["BucketEncryption"])
                        continue
                    purpose = "ExportsKey" if logical_id.startswith("Exports") else "AuditKey"
                reference = get(resource["Properties"], prop)
                assert _is_own_key(reference, env, purpose, template), f"{stack_name}/{logical_id}.{prop}={reference}"
                checked += 1
    assert checked >= 15  # log groups, cluster, instances, vault, buckets, topic, secret, trail, ECS storage


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_data_store_is_classified(operator: Assembly, env: str) -> None:
    allowed = {c.value for c in DataClass}
    stores = [(s, lid, r) for t in DATA_STORES for s, lid, r in operator.resources(env, t)]
    assert stores
    for stack_name, logical_id, resource in stores:
        assert tags(resource).get(CLASSIFICATION_TAG) in allowed, f"{stack_name}/{logical_id} is unclassified"
    cluster = next(operator.resources(env, "AWS::RDS::DBCluster"))[2]
    assert tags(cluster)[CLASSIFICATION_TAG] == DataClass.SENSITIVE.value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_cluster_is_multi_az_tls_only_and_encrypted(operator: Assembly, env: str) -> None:
    config = operator.config.environment(env)
    ((_, _, cluster),) = operator.resources(env, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql" and props["EngineVersion"].startswith("16.")
    assert props["StorageEncrypted"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["ManageMasterUserPassword"] is True
    assert props["EnableCloudwatchLogsExports"] == ["postgresql"]
    assert props["BackupRetentionPeriod"] == config.pitr_retention_days

    instances = [r["Properties"] for _, _, r in operator.resources(env, "AWS::RDS::DBInstance")]
    assert len(instances) == 1 + config.db_reader_count
    assert len({i["AvailabilityZone"] for i in instances}) >= 2
    for instance in instances:
        assert instance["PubliclyAccessible"] is False
        assert instance["EnablePerformanceInsights"] is True
        assert instance["MonitoringInterval"] == 60

    ((_, _, parameter_group),) = operator.resources(env, "AWS::RDS::DBClusterParameterGroup")
    parameters = parameter_group["Properties"]["Parameters"]
    assert parameters["rds.force_ssl"] == "1"
    assert "pgaudit" in parameters["shared_preload_libraries"]
    assert parameters["pgaudit.log_parameter"] == "0"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_security_group_admits_only_the_service_tasks_on_its_port(operator: Assembly, env: str) -> None:
    ((_, _, db_sg),) = [r for r in operator.resources(env, "AWS::EC2::SecurityGroup")
                        if r[1].startswith("DatabaseSecurityGroup")]
    assert not db_sg["Properties"].get("SecurityGroupIngress")  # nothing inline: no CIDR can reach it
    port = operator.config.environment(env).db_port
    ingress = [
        r["Properties"]
        for _, _, r in operator.resources(env, "AWS::EC2::SecurityGroupIngress")
        if "DatabaseSecurityGroup" in json.dumps(r["Properties"]["GroupId"])
    ]
    # the data service, the support service, the one-off tasks (jobs, drill, restore), the audit sequencer, the
    # deploy-time setup
    assert len(ingress) == 5
    for rule in ingress:
        assert rule["FromPort"] == rule["ToPort"] == port
        assert "CidrIp" not in rule and "SourceSecurityGroupId" in rule
        source = json.dumps(rule["SourceSecurityGroupId"])
        assert any(name in source for name in ("DataService", "SupportService", "LifecycleJobSecurityGroup",
                                               "AuditSequencer", "DatabaseSetupTaskSecurityGroup"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_subnets_have_no_route_to_internet_or_nat(operator: Assembly, env: str) -> None:
    network = operator.env_templates(env)[f"adp-{env}-network"]["Resources"]
    tier_of_subnet = {
        lid: tags(r)["aws-cdk:subnet-name"] for lid, r in network.items() if r["Type"] == "AWS::EC2::Subnet"
    }
    tier_of_table = {
        r["Properties"]["RouteTableId"]["Ref"]: tier_of_subnet[r["Properties"]["SubnetId"]["Ref"]]
        for r in network.values()
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
    }
    assert sorted(set(tier_of_subnet.values())) == ["app", "data", "public", "support"]
    routes = [r["Properties"] for r in network.values() if r["Type"] == "AWS::EC2::Route"]
    isolated_routes = [r for r in routes if tier_of_table[r["RouteTableId"]["Ref"]] in ("data", "support")]
    assert isolated_routes == []
    # The check can fail: the public tier does route to the internet gateway.
    assert any(tier_of_table[r["RouteTableId"]["Ref"]] == "public" and "GatewayId" in r for r in routes)
    for lid, subnet in network.items():
        if subnet["Type"] == "AWS::EC2::Subnet":
            assert subnet["Properties"]["MapPublicIpOnLaunch"] is False, lid


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_has_flow_logs_endpoints_and_closed_default_sg(operator: Assembly, env: str) -> None:
    network = operator.env_templates(env)[f"adp-{env}-network"]["Resources"]
    types = [r["Type"] for r in network.values()]
    assert "AWS::EC2::FlowLog" in types
    assert "Custom::VpcRestrictDefaultSG" in types
    services = {
        r["Properties"]["ServiceName"].rsplit(".", 1)[-1] if isinstance(r["Properties"]["ServiceName"], str) else "s3"
        for r in network.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    assert {"kms", "secretsmanager", "api", "dkr", "logs", "sts", "s3"} <= services


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backups_are_daily_bounded_and_encrypted(operator: Assembly, env: str) -> None:
    config = operator.config.environment(env)
    ((_, _, plan),) = operator.resources(env, "AWS::Backup::BackupPlan")
    rules = {rule["RuleName"]: rule for rule in plan["Properties"]["BackupPlan"]["BackupPlanRule"]}
    daily = rules["DailySnapshot"]
    assert daily["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert daily["Lifecycle"]["DeleteAfterDays"] == config.backup_retention_days
    assert rules["ContinuousPointInTime"]["EnableContinuousBackup"] is True
    assert rules["ContinuousPointInTime"]["Lifecycle"]["DeleteAfterDays"] == config.pitr_retention_days
    for rule in rules.values():  # every copy has a bounded life (P10 computes from it)
        assert rule["Lifecycle"]["DeleteAfterDays"] <= config.longest_backup_retention_days
    ((_, _, selection),) = operator.resources(env, "AWS::Backup::BackupSelection")
    assert "cluster:" in json.dumps(selection["Properties"]["BackupSelection"]["Resources"])


def test_prod_has_vault_lock_deletion_protection_and_cross_region_copy(operator: Assembly) -> None:
    vaults = {s: r["Properties"] for s, _, r in operator.resources("prod", "AWS::Backup::BackupVault")}
    for stack_name, vault in vaults.items():
        lock = vault["LockConfiguration"]
        assert lock["MinRetentionDays"] == 7 and lock["ChangeableForDays"] == 3, stack_name
        assert lock["MaxRetentionDays"] >= 35
    assert "adp-prod-backup-copy" in vaults
    ((_, _, cluster),) = operator.resources("prod", "AWS::RDS::DBCluster")
    assert cluster["Properties"]["DeletionProtection"] is True
    assert cluster["DeletionPolicy"] == "Snapshot"
    ((_, _, plan),) = operator.resources("prod", "AWS::Backup::BackupPlan")
    daily = plan["Properties"]["BackupPlan"]["BackupPlanRule"][0]
    assert daily["CopyActions"][0]["DestinationBackupVaultArn"].startswith("arn:aws:backup:eu-central-1:333333333333:")


def test_non_prod_vaults_have_no_lock(operator: Assembly) -> None:
    for env in ("dev", "qa"):
        for _, _, vault in operator.resources(env, "AWS::Backup::BackupVault"):
            assert "LockConfiguration" not in vault["Properties"]


def test_selfhosted_example_synthesizes_clean(selfhosted: Assembly) -> None:
    assert selfhosted.outcome.passed, "\n".join(map(str, selfhosted.outcome.unacknowledged))
    assert list(selfhosted.templates) == ["acme"]
    ((_, _, cluster),) = selfhosted.resources("acme", "AWS::RDS::DBCluster")
    assert cluster["Properties"]["DeletionProtection"] is True
