"""Issue 14 item 12: dev and qa can be torn down (one command), prod never; the templates say what goes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks.config import EnvironmentConfig, load_config
from stacks.teardown import (
    Found,
    TeardownError,
    destroy_command,
    discover,
    empty_bucket,
    empty_vault,
    lift_deletion_protection,
    main,
    teardown,
)
from tests.stacks.conftest import OPERATOR_CONFIG, SELFHOSTED_CONFIG, Assembly

MOTO_ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"


def _dev() -> EnvironmentConfig:
    return replace(load_config(OPERATOR_CONFIG).environment("dev"), account=MOTO_ACCOUNT)


def _clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def _no_clients(service: str, region: str) -> Any:
    raise AssertionError(f"no AWS call may be made, got {service} in {region}")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.mark.parametrize(("config", "env"), [(OPERATOR_CONFIG, "prod"), (SELFHOSTED_CONFIG, "acme")])
def test_teardown_of_a_prod_environment_is_refused_before_any_aws_call(
    config: Path, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", env, "--config", str(config), "--yes"], clients=_no_clients, run=_no_clients) == 2
    assert f'environments.{env} is kind = "prod"' in capsys.readouterr().err


def test_teardown_with_credentials_of_another_account_is_refused(aws: None) -> None:
    dev = load_config(OPERATOR_CONFIG).environment("dev")  # account 111111111111, moto answers 123456789012
    with pytest.raises(TeardownError, match=r"account 123456789012.*lives in 111111111111"):
        teardown(
            dev,
            source="x",
            app_name="adp",
            config_path=OPERATOR_CONFIG,
            clients=_clients,
            run=_no_clients,
            execute=True,
            say=lambda _: None,
        )


def _versioned_bucket_with_history(name: str) -> Any:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=name, Key="export/a.json", Body=body)
    s3.put_object(Bucket=name, Key="export/b.json", Body=b"b")
    s3.delete_object(Bucket=name, Key="export/b.json")  # leaves a delete marker and a version
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheJob",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteObjectVersion",
                "Resource": f"arn:aws:s3:::{name}/*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/job"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return s3


def test_teardown_empty_bucket_deletes_every_version_marker_and_the_policy(aws: None) -> None:
    s3 = _versioned_bucket_with_history("adp-dev-exports")
    assert empty_bucket(s3, "adp-dev-exports") == 4  # three versions, one delete marker
    listed = s3.list_object_versions(Bucket="adp-dev-exports")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket="adp-dev-exports")
    s3.delete_bucket(Bucket="adp-dev-exports")  # what CloudFormation's DeletionPolicy: Delete then can do


def test_teardown_lifts_deletion_protection_of_cluster_and_load_balancers(aws: None) -> None:
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_cluster(
        DBClusterIdentifier="adp-dev-database",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="a-long-password",
        DeletionProtection=True,
    )
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    arn = elbv2.create_load_balancer(Name="adp-dev-public", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    lift_deletion_protection(_clients, Found(clusters=[(REGION, "adp-dev-database")], load_balancers=[(REGION, arn)]))
    assert (
        rds.describe_db_clusters(DBClusterIdentifier="adp-dev-database")["DBClusters"][0]["DeletionProtection"] is False
    )
    attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    assert {"Key": "deletion_protection.enabled", "Value": "false"} in attributes


class _Vault:
    """AWS Backup's two calls the teardown makes, over a list of recovery points."""

    def __init__(self, points: list[str]) -> None:
        self.points = points

    def get_paginator(self, name: str) -> Any:
        assert name == "list_recovery_points_by_backup_vault"
        vault = self

        class _Pages:
            def paginate(self, BackupVaultName: str) -> list[dict[str, Any]]:
                return [{"RecoveryPoints": [{"RecoveryPointArn": arn} for arn in list(vault.points)]}]

        return _Pages()

    def delete_recovery_point(self, BackupVaultName: str, RecoveryPointArn: str) -> None:
        self.points.remove(RecoveryPointArn)


def test_teardown_empty_vault_deletes_every_recovery_point() -> None:
    vault = _Vault(["arn:aws:backup:eu-west-1:1:recovery-point:a", "arn:aws:rds:eu-west-1:1:cluster-snapshot:b"])
    assert empty_vault(vault, "adp-dev") == 2 and vault.points == []


class _Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: str) -> list[dict[str, Any]]:
        return self.pages


class _CloudFormation:
    """The two CloudFormation reads the teardown makes, over stacks of one S3 bucket each."""

    def __init__(self, stacks: dict[str, str]) -> None:
        self.stacks = stacks
        self.asked: list[str] = []

    def get_paginator(self, name: str) -> _Pages:
        if name == "describe_stacks":
            listed = [{"StackName": stack, "StackStatus": "CREATE_COMPLETE"} for stack in self.stacks]
            return _Pages([{"Stacks": [*listed, {"StackName": "adp-dev-old", "StackStatus": "DELETE_COMPLETE"}]}])
        assert name == "list_stack_resources"
        cloudformation = self

        class _Resources:
            def paginate(self, StackName: str) -> list[dict[str, Any]]:
                cloudformation.asked.append(StackName)
                bucket = {"ResourceType": "AWS::S3::Bucket", "PhysicalResourceId": cloudformation.stacks[StackName]}
                return [{"StackResourceSummaries": [bucket, {"ResourceType": "AWS::SNS::Topic"}]}]

        return _Resources()


def test_teardown_finds_only_its_environments_stacks_and_empties_them_before_cdk_destroy(aws: None) -> None:
    stacks = {"adp-dev-storage": "adp-dev-access-logs", "adp-devx-storage": "adp-devx-logs", "adp-qa-storage": "q"}
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in ("adp-dev-access-logs", "adp-devx-logs"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=bucket, Key="log", Body=b"x")
    cloudformation = _CloudFormation(stacks)

    def clients(service: str, region: str) -> Any:
        return cloudformation if service == "cloudformation" else _clients(service, region)

    dev = _dev()
    assert [b for _, b in discover(clients, dev, "adp-dev-").buckets] == ["adp-dev-access-logs"]
    assert cloudformation.asked == ["adp-dev-storage"]  # devx and qa are other environments
    ran: list[Sequence[str]] = []
    lines: list[str] = []

    def run(command: Sequence[str]) -> int:
        ran.append(command)
        assert (
            not boto3.client("s3", region_name=REGION)
            .list_object_versions(Bucket="adp-dev-access-logs")
            .get("Versions")
        )
        return 0

    args: dict[str, Any] = {"source": "x", "app_name": "adp", "config_path": OPERATOR_CONFIG, "clients": clients}
    assert teardown(dev, **args, run=run, execute=False, say=lines.append) == 0
    assert not ran and "Nothing changed" in lines[-1] and any("would delete" in line for line in lines)
    assert teardown(dev, **args, run=run, execute=True, say=lines.append) == 0
    assert ran == [destroy_command(dev, OPERATOR_CONFIG)] and ran[0][:4] == ["npx", "cdk", "destroy", "dev/*"]
    assert s3.list_object_versions(Bucket="adp-devx-logs")["Versions"]  # another environment's: untouched


# Types whose data or protection decides whether a stack deletion can go through.
STORES = (
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Backup::BackupVault",
    "AWS::Logs::LogGroup",
    "AWS::RDS::DBCluster",
)


def test_teardown_non_prod_templates_delete_every_store_and_prod_keeps_them(operator: Assembly) -> None:
    for env in ("dev", "qa"):
        kept = [
            (stack, logical_id, resource.get("DeletionPolicy"))
            for stack, template in operator.env_templates(env).items()
            for logical_id, resource in template["Resources"].items()
            if resource.get("DeletionPolicy", "Delete") != "Delete"
            or resource.get("UpdateReplacePolicy", "Delete") != "Delete"
        ]
        assert kept == [], env
        # What the teardown lifts: deletion protection, on exactly these.
        ((_, _, cluster),) = operator.resources(env, "AWS::RDS::DBCluster")
        assert cluster["Properties"]["DeletionProtection"] is True
    for resource_type in STORES:
        for stack, logical_id, resource in operator.resources("prod", resource_type):
            expected = "Snapshot" if resource_type == "AWS::RDS::DBCluster" else "Retain"
            assert resource["DeletionPolicy"] == expected, (stack, logical_id)
