"""A moto account with a cluster shaped like the platform's: encrypted with its own KMS key, a subnet group, a
security group, a cluster parameter group forcing TLS, IAM authentication, deletion protection, a writer and
two readers in other zones.

moto reports the restorable window as [creation time, now]. `RealisticWindow` wraps the client so the window is
what AWS reports for a cluster with 7 days of retention: [now - 7 days, now - 5 minutes]. Everything else is
moto's own answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "eu-west-1"
SOURCE = "platform-prod-db"


class RealisticWindow:
    """Delegates to the moto RDS client; rewrites the restorable window of describe_db_clusters."""

    def __init__(self, client: Any, *, retention: timedelta = timedelta(days=7),
                 lag: timedelta = timedelta(minutes=5)) -> None:
        self._client = client
        self._retention, self._lag = retention, lag
        self.meta = client.meta

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_db_clusters(self, **kwargs: Any) -> Any:
        response = self._client.describe_db_clusters(**kwargs)
        now = datetime.now(UTC)
        for cluster in response["DBClusters"]:
            cluster["EarliestRestorableTime"] = now - self._retention
            cluster["LatestRestorableTime"] = now - self._lag
        return response


@dataclass
class Account:
    rds: Any  # the wrapped client the code under test uses
    raw: Any  # moto's client
    kms_key: str
    subnet_group: str
    security_group: str


def make_source(rds: Any, ec2: Any, kms: Any, *, force_ssl: str = "1", name: str = SOURCE) -> Account:
    key = kms.create_key(Description="database key")["KeyMetadata"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]
               ["SubnetId"] for i, z in enumerate("abc")]
    sg = ec2.create_security_group(GroupName=f"{name}-sg", Description="database", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName=f"{name}-subnets", DBSubnetGroupDescription="data tier",
                               SubnetIds=subnets)
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName=f"{name}-params",
                                          DBParameterGroupFamily="aurora-postgresql16", Description="TLS only")
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=f"{name}-params", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": force_ssl, "ApplyMethod": "pending-reboot"}])
    rds.create_db_cluster(
        DBClusterIdentifier=name, Engine="aurora-postgresql", EngineVersion="16.4", MasterUsername="platform_admin",
        MasterUserPassword="not-a-real-password", StorageEncrypted=True, KmsKeyId=key,
        DBSubnetGroupName=f"{name}-subnets", VpcSecurityGroupIds=[sg], DBClusterParameterGroupName=f"{name}-params",
        DeletionProtection=True, EnableIAMDatabaseAuthentication=True, BackupRetentionPeriod=7,
    )
    for i, zone in enumerate("abc"):
        rds.create_db_instance(DBInstanceIdentifier=f"{name}-{i}", DBClusterIdentifier=name,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                               AvailabilityZone=f"{REGION}{zone}", PromotionTier=1 if i else 0)
    return Account(RealisticWindow(rds), rds, key, f"{name}-subnets", sg)


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        yield make_source(rds, boto3.client("ec2", region_name=REGION), boto3.client("kms", region_name=REGION))
