"""The AWS families against a healthy environment in moto (every check passes, or could not check where moto lacks
the API), and one mutation per check that makes exactly that check fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from runtime.verify_deployed.keys import foreign_principals
from runtime.verify_deployed.result import Result, Status
from runtime.verify_deployed.run import AWS_FAMILIES, run, selected
from tests.runtime.verify_deployed.healthy import (
    ACCOUNT,
    CLUSTER,
    ECS_CLUSTER,
    LOGS_BUCKET,
    REGION,
    SENSITIVE_BUCKET,
    TRAIL,
    VAULT,
    Healthy,
    client,
    register,
)

# What moto cannot answer (the emulation's endpoint neither): these are tested with botocore's Stubber.
UNSUPPORTED = {"backup.recent-job": "backup ListBackupJobs", "vpn.logging-and-authorization":
               "ec2 DescribeClientVpnEndpoints"}


def _results(healthy: Healthy, body: dict[str, Any] | None = None) -> dict[str, Result]:
    found = run(selected(AWS_FAMILIES), aws=healthy.context(body), database=None)
    return {r.check: r for r in found}


def test_healthy_environment_every_aws_check_passes(healthy: Healthy) -> None:
    results = _results(healthy)
    assert set(results) == {c.id for c in selected(AWS_FAMILIES)}
    not_passing = {k: (r.status, r.detail) for k, r in results.items()
                   if r.status is not Status.PASS and k not in UNSUPPORTED and k != "storage.object-lock"}
    assert not not_passing
    for check, api in UNSUPPORTED.items():
        assert results[check].status is Status.NOT_CHECKED
        assert results[check].detail == f"could not check: {api} unsupported by endpoint"
    assert results["storage.object-lock"].status is Status.NOT_APPLICABLE
    assert all(r.resources for k, r in results.items() if k not in UNSUPPORTED and k != "storage.object-lock")
    assert any(healthy.keys["organisation"] in arn for arn in results["keys.rotation"].resources)


Undo = Callable[[], object]


def _peering(healthy: Healthy) -> Undo:
    ec2 = client("ec2")
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(VpcId=healthy.vpc, PeerVpcId=other)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"]
    return lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=peering)


def _route_out(healthy: Healthy) -> Undo:
    """A route to a virtual private gateway: a VPN to some other network (no peering, no transit gateway)."""
    ec2 = client("ec2")
    gateway = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=healthy.vpc, VpnGatewayId=gateway)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [healthy.vpc]}])["RouteTables"][0]
    ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="10.9.0.0/16", GatewayId=gateway)
    return lambda: ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="10.9.0.0/16")


def _transit_gateway(healthy: Healthy) -> Undo:
    ec2 = client("ec2")
    gateway = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    attachment = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=gateway, VpcId=healthy.vpc,
                                                           SubnetIds=healthy.subnets)
    return lambda: ec2.delete_transit_gateway_vpc_attachment(
        TransitGatewayAttachmentId=attachment["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"])


def _key_call(purpose: str, method: str, undo: str, **arguments: Any) -> Callable[[Healthy], Undo]:
    def mutate(healthy: Healthy) -> Undo:
        kms = client("kms")
        getattr(kms, method)(KeyId=healthy.keys[purpose], **arguments)
        return lambda: getattr(kms, undo)(KeyId=healthy.keys[purpose])
    return mutate


def _alias_deleted(healthy: Healthy) -> Undo:
    kms = client("kms")
    kms.delete_alias(AliasName="alias/adp/dev/exports")
    return lambda: kms.create_alias(AliasName="alias/adp/dev/exports", TargetKeyId=healthy.keys["exports"])


def _foreign_key_policy(healthy: Healthy) -> Undo:
    kms, key = client("kms"), healthy.keys["exports"]
    before = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:Decrypt",
         "Resource": "*"}]}))
    return lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=before)


def _other_environments_role_in_key_policy(healthy: Healthy) -> Undo:
    """The same account, but a role of another environment (qa's data service) named in the key's policy."""
    kms, key = client("kms"), healthy.keys["database"]
    before = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    policy = json.loads(before)
    qa_role = f"arn:aws:iam::{ACCOUNT}:role/adp-qa-data-service"
    policy["Statement"].append({"Effect": "Allow", "Principal": {"AWS": qa_role},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"})
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    return lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=before)


def _public_snapshot(healthy: Healthy) -> Undo:
    rds = client("rds")
    rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="handmade", DBClusterIdentifier=CLUSTER)
    rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="handmade", AttributeName="restore",
                                             ValuesToAdd=["all"])
    return lambda: rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="handmade")


def _single_zone(healthy: Healthy) -> Undo:
    rds = client("rds")
    rds.delete_db_instance(DBInstanceIdentifier=f"{CLUSTER}-1")
    return lambda: rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-1", DBClusterIdentifier=CLUSTER,
                                          Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                                          AvailabilityZone=f"{REGION}b")


def _modify_cluster(**change: Any) -> Callable[[Healthy], Undo]:
    def mutate(healthy: Healthy) -> Undo:
        rds = client("rds")
        before = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
        rds.modify_db_cluster(DBClusterIdentifier=CLUSTER, ApplyImmediately=True, **change)
        return lambda: rds.modify_db_cluster(DBClusterIdentifier=CLUSTER, ApplyImmediately=True,
                                             **{k: before[k] for k in change})
    return mutate


def _force_ssl(value: str) -> None:
    client("rds").modify_db_cluster_parameter_group(DBClusterParameterGroupName="adp-dev-params", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": value, "ApplyMethod": "immediate"}])


def _force_ssl_off(healthy: Healthy) -> Undo:
    _force_ssl("0")
    return lambda: _force_ssl("1")


def _vault_lock_removed(healthy: Healthy) -> Undo:
    backup = client("backup")
    backup.delete_backup_vault_lock_configuration(BackupVaultName=VAULT)
    return lambda: backup.put_backup_vault_lock_configuration(BackupVaultName=VAULT, MinRetentionDays=7,
                                                              MaxRetentionDays=35, ChangeableForDays=3)


def _listener(protocol: str, **change: Any) -> Callable[[Healthy], Undo]:
    def mutate(healthy: Healthy) -> Undo:
        elb, arn = client("elbv2"), healthy.listeners[protocol]
        before = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
        elb.modify_listener(ListenerArn=arn, **change)
        return lambda: elb.modify_listener(ListenerArn=arn, **{k: before[k] for k in change})
    return mutate


def _bucket(name: str, read: str, change: str, undo: str, key: str, **arguments: Any) -> Callable[[Healthy], Undo]:
    """Change a bucket setting with s3.<change>(**arguments); put back what s3.<read> said (its `key`)."""
    def mutate(healthy: Healthy) -> Undo:
        s3 = client("s3")
        before = getattr(s3, read)(Bucket=name)[key]
        getattr(s3, change)(Bucket=name, **arguments)
        if key == "Policy":
            return lambda: s3.put_bucket_policy(Bucket=name, Policy=before)
        return lambda: getattr(s3, undo)(Bucket=name, **{key: before})
    return mutate


def _task_definition(environment: dict[str, str], **container: Any) -> Callable[[Healthy], Undo]:
    def mutate(healthy: Healthy) -> Undo:
        ecs = client("ecs")
        before = ecs.describe_services(cluster=ECS_CLUSTER, services=["adp-dev-data"])["services"][0]["taskDefinition"]
        ecs.update_service(cluster=ECS_CLUSTER, service="adp-dev-data",
                           taskDefinition=register(environment, **container))
        return lambda: ecs.update_service(cluster=ECS_CLUSTER, service="adp-dev-data", taskDefinition=before)
    return mutate


def _detector(enable: bool) -> None:
    guardduty = client("guardduty")
    for detector in guardduty.list_detectors()["DetectorIds"]:
        guardduty.update_detector(DetectorId=detector, Enable=enable)


def _detector_off(healthy: Healthy) -> Undo:
    _detector(False)
    return lambda: _detector(True)


def _waf_disassociated(healthy: Healthy) -> Undo:
    waf = client("wafv2")
    acl = waf.get_web_acl_for_resource(ResourceArn=healthy.load_balancer)["WebACL"]["ARN"]
    waf.disassociate_web_acl(ResourceArn=healthy.load_balancer)
    return lambda: waf.associate_web_acl(WebACLArn=acl, ResourceArn=healthy.load_balancer)


def _trail_stopped(healthy: Healthy) -> Undo:
    trail = client("cloudtrail")
    trail.stop_logging(Name=TRAIL)
    return lambda: trail.start_logging(Name=TRAIL)


def _hub_disabled(healthy: Healthy) -> Undo:
    hub = client("securityhub")
    hub.disable_security_hub()
    return lambda: hub.enable_security_hub()


_SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
_FORWARD = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
MUTATIONS: dict[str, tuple[str, Callable[[Healthy], Undo]]] = {
    "peering to another VPC": ("network.no-peering", _peering),
    "transit gateway attached": ("network.no-transit-gateway", _transit_gateway),
    "route to a virtual private gateway": ("network.routes-stay-inside", _route_out),
    "alias deleted": ("keys.present", _alias_deleted),
    "key disabled": ("keys.enabled", _key_call("database", "disable_key", "enable_key")),
    "rotation off": ("keys.rotation", _key_call("organisation", "disable_key_rotation", "enable_key_rotation")),
    "key policy admits a foreign account": ("keys.policy-this-account", _foreign_key_policy),
    "key policy admits another environment's role": ("keys.policy-this-account",
                                                      _other_environments_role_in_key_policy),
    "reader deleted (one zone)": ("database.multi-az", _single_zone),
    "force_ssl off": ("database.force-ssl", _force_ssl_off),
    "deletion protection off": ("database.deletion-protection", _modify_cluster(DeletionProtection=False)),
    "point-in-time window shortened": ("database.point-in-time-window", _modify_cluster(BackupRetentionPeriod=1)),
    "snapshot made public": ("database.snapshots-private", _public_snapshot),
    "vault lock removed": ("backup.vault-lock", _vault_lock_removed),
    "sensitive bucket on SSE-S3": ("storage.encrypted", _bucket(
        SENSITIVE_BUCKET, "get_bucket_encryption", "put_bucket_encryption", "put_bucket_encryption",
        "ServerSideEncryptionConfiguration", ServerSideEncryptionConfiguration=_SSE_S3)),
    "public access block removed": ("storage.public-access-blocked", _bucket(
        LOGS_BUCKET, "get_public_access_block", "delete_public_access_block", "put_public_access_block",
        "PublicAccessBlockConfiguration")),
    "TLS-only bucket policy removed": ("storage.tls-only", _bucket(
        SENSITIVE_BUCKET, "get_bucket_policy", "delete_bucket_policy", "put_bucket_policy", "Policy")),
    "listener downgraded to HTTP": ("edge.listeners-https", _listener("HTTP", DefaultActions=_FORWARD)),
    "listener on an old TLS policy": ("edge.listeners-https", _listener("HTTPS",
                                                                        SslPolicy="ELBSecurityPolicy-2016-08")),
    "WAF disassociated": ("edge.waf-associated", _waf_disassociated),
    "trail stopped": ("monitoring.trail-logging", _trail_stopped),
    "GuardDuty detector disabled": ("monitoring.guardduty", _detector_off),
    "Security Hub disabled": ("monitoring.security-hub", _hub_disabled),
    "task definition drift (database TLS)": ("drift.task-definitions", _task_definition(
        {"PLATFORM_SERVICE_MODE": "owner", "PLATFORM_DATABASE_SSLMODE": "disable"})),
    "task definition drift (writable root)": ("drift.task-definitions", _task_definition(
        {"PLATFORM_SERVICE_MODE": "owner", "PLATFORM_DATABASE_SSLMODE": "verify-full"},
        readonlyRootFilesystem=False)),
}


def _failed(healthy: Healthy) -> dict[str, str]:
    return {k: r.detail for k, r in _results(healthy).items() if r.status is Status.FAIL}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutation_makes_its_check_fail(shared: Healthy, mutation: str) -> None:
    check, mutate = MUTATIONS[mutation]
    undo = mutate(shared)
    try:
        failed = _failed(shared)
    finally:
        undo()
    assert set(failed) == {check}, failed
    assert not _failed(shared), "the undo left the environment unhealthy"


def test_every_aws_check_has_a_mutation() -> None:
    elsewhere = {"backup.recent-job", "vpn.logging-and-authorization", "storage.object-lock", "database.encrypted",
                 "backup.vault-encrypted", "database.iam-authentication"}  # test_aws_edges.py, test_stubbed_checks.py
    assert {c.id for c in selected(AWS_FAMILIES)} == {check for check, _ in MUTATIONS.values()} | elsewhere


@pytest.mark.parametrize(("principal", "admitted"), [
    (f"arn:aws:iam::{ACCOUNT}:root", True),
    (ACCOUNT, True),
    (f"arn:aws:iam::{ACCOUNT}:role/adp-dev-data-service", True),
    (f"arn:aws:iam::{ACCOUNT}:role/service/adp-dev-service-JobTaskRole-1A2B3C", True),  # a role path
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/adp-dev-auditor/alice", True),
    (f"arn:aws:iam::{ACCOUNT}:role/adp-qa-data-service", False),  # another environment of the account
    (f"arn:aws:iam::{ACCOUNT}:role/adp-devx-data-service", False),  # a prefix of the name is not enough
    (f"arn:aws:iam::{ACCOUNT}:user/alice", False),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/adp-dev-session", False),  # the session's name proves nothing
    ("arn:aws:iam::999999999999:role/adp-dev-data-service", False),  # another account
    ("*", False),
])
def test_key_policy_principals_of_this_environment(principal: str, admitted: bool) -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:Decrypt"}]}
    assert (foreign_principals(policy, ACCOUNT, "adp-dev-") == []) is admitted
