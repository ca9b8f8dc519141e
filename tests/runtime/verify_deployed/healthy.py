"""A healthy deployed environment in moto (in process), as the stacks would leave it, and its templates.

`Healthy.build()` creates what the checks read: the tagged VPC, the environment's keys (rotating, one asymmetric
signing key, one organisation key), the Aurora cluster (two zones, TLS-only parameter group, IAM auth, deletion
protection), the locked backup vault, tagged buckets (encrypted, public access blocked, TLS-only policy), the
load balancer (HTTPS listener with a TLS 1.2+ policy, HTTP redirecting) and its web ACL, the trail, GuardDuty,
Security Hub, and an ECS service running the synthesized task definition. Each mutation test breaks one thing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]

from runtime.verify_deployed.context import Context
from runtime.verify_deployed.expected import Expected, Template

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
APP, ENV = "adp", "dev"
TAGS = [{"Key": "app", "Value": APP}, {"Key": "environment", "Value": ENV}]
CLUSTER = "adp-dev-db"
VAULT = "adp-dev-vault"
TRAIL = "adp-dev"
ECS_CLUSTER = "adp-dev"
FAMILY = "adpdevserviceDataTask"
SUPPORT_CIDR = "10.0.3.0/24"
RESOLVER = "10.0.0.2/32"
SENSITIVE_BUCKET = "adp-dev-exports-123456789012-eu-west-1-an"
LOGS_BUCKET = "adp-dev-storage-accesslogs"
CONTAINER_ENV = {"PLATFORM_SERVICE_MODE": "owner", "PLATFORM_DATABASE_SSLMODE": "verify-full"}


def template_body() -> dict[str, Any]:
    def resource(kind: str, **props: Any) -> dict[str, Any]:
        return {"Type": kind, "Properties": props}

    container = {"Name": "runtime", "Image": {"Fn::Sub": "image"}, "ReadonlyRootFilesystem": True, "User": "10001",
                 "Environment": [*({"Name": k, "Value": v} for k, v in CONTAINER_ENV.items()),
                                 {"Name": "PLATFORM_DATABASE_HOST", "Value": {"Fn::GetAtt": ["Cluster", "Endpoint"]}}],
                 "Secrets": [{"Name": "PLATFORM_AUDIT_CHAIN_KEY", "ValueFrom": {"Ref": "Secret"}}]}
    return {"Resources": {
        "FlowLog": resource("AWS::EC2::FlowLog", ResourceId={"Ref": "Vpc"}),
        **{f"Alias{p}": resource("AWS::KMS::Alias", AliasName=f"alias/adp/dev/{p}")
           for p in ("database", "backups", "exports", "receipt-signing")},
        "Key": resource("AWS::KMS::Key", Tags=TAGS),
        "Cluster": resource("AWS::RDS::DBCluster", DeletionProtection=True, BackupRetentionPeriod=7),
        "Vault": resource("AWS::Backup::BackupVault", BackupVaultName=VAULT, LockConfiguration={"MinRetentionDays": 7}),
        "Exports": resource("AWS::S3::Bucket"),
        "Alb": resource("AWS::ElasticLoadBalancingV2::LoadBalancer"),
        "AclAssociation": resource("AWS::WAFv2::WebACLAssociation"),
        "Vpn": resource("AWS::EC2::ClientVpnEndpoint"),
        "Rule1": resource("AWS::EC2::ClientVpnAuthorizationRule", TargetNetworkCidr=SUPPORT_CIDR),
        "Rule2": resource("AWS::EC2::ClientVpnAuthorizationRule", TargetNetworkCidr=RESOLVER),
        "Trail": resource("AWS::CloudTrail::Trail", TrailName=TRAIL),
        "GuardDutyRule": resource("AWS::Events::Rule", EventPattern={"source": ["aws.guardduty"]}),
        "SecurityHubRule": resource("AWS::Events::Rule", EventPattern={"source": ["aws.securityhub"]}),
        "DataTask": resource("AWS::ECS::TaskDefinition", Family=FAMILY, ContainerDefinitions=[container]),
        "DataService": resource("AWS::ECS::Service", TaskDefinition={"Ref": "DataTask"}),
    }}


def expected(body: dict[str, Any] | None = None) -> Expected:
    return Expected(ENV, ACCOUNT, REGION, APP, (Template("adp-dev-all", body or template_body()),))


_CLIENTS: dict[str, Any] = {}


def client(service: str) -> Any:
    """One client per service (building a boto3 client is what costs most here); `forget_clients` per test."""
    if service not in _CLIENTS:
        _CLIENTS[service] = boto3.client(service, region_name=REGION)
    return _CLIENTS[service]


def forget_clients() -> None:
    _CLIENTS.clear()


@dataclass
class Healthy:
    """What `build` made: ids the mutation tests change."""

    keys: dict[str, str] = field(default_factory=dict)  # purpose -> key id
    vpc: str = ""
    subnets: list[str] = field(default_factory=list)
    load_balancer: str = ""
    listeners: dict[str, str] = field(default_factory=dict)  # protocol -> listener ARN
    org_alias: str = ""

    def context(self, body: dict[str, Any] | None = None, **kwargs: Any) -> Context:
        return Context(expected(body), client, **kwargs)

    @classmethod
    def build(cls) -> Healthy:
        made = cls()
        made._network()
        made._keys()
        made._database()
        made._backup()
        made._storage()
        made._edge()
        made._monitoring()
        made._ecs()
        return made

    def _network(self) -> None:
        ec2 = client("ec2")
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": TAGS}])["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i + 1}.0/24",
                                          AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
                        for i, zone in enumerate("ab")]

    def _keys(self) -> None:
        kms = client("kms")
        for purpose in ("database", "backups", "exports"):
            key = kms.create_key(Description=purpose)["KeyMetadata"]["KeyId"]
            kms.enable_key_rotation(KeyId=key)
            kms.create_alias(AliasName=f"alias/adp/dev/{purpose}", TargetKeyId=key)
            self.keys[purpose] = key
        signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/adp/dev/receipt-signing", TargetKeyId=signing)
        self.keys["receipt-signing"] = signing
        organisation = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=organisation)
        self.org_alias = f"alias/adp-dev-org-{uuid.uuid4()}"
        kms.create_alias(AliasName=self.org_alias, TargetKeyId=organisation)
        self.keys["organisation"] = organisation
        kms.create_key(Description="another environment's key, not aliased as ours")

    def _database(self) -> None:
        rds = client("rds")
        rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="adp-dev-params",
                                              DBParameterGroupFamily="aurora-postgresql16", Description="TLS only")
        rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="adp-dev-params", Parameters=[
            {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"},
            {"ParameterName": "ssl_min_protocol_version", "ParameterValue": "TLSv1.2",
             "ApplyMethod": "pending-reboot"}])
        rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", MasterUsername="platform_admin",
                              MasterUserPassword="not-a-real-password-1", DBClusterParameterGroupName="adp-dev-params",
                              StorageEncrypted=True, KmsKeyId=self.keys["database"],
                              EnableIAMDatabaseAuthentication=True, DeletionProtection=True, BackupRetentionPeriod=7)
        for index, zone in enumerate("ab"):
            rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-{index}", DBClusterIdentifier=CLUSTER,
                                   Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                                   AvailabilityZone=f"{REGION}{zone}")

    def _backup(self) -> None:
        backup = client("backup")
        backup.create_backup_vault(BackupVaultName=VAULT, EncryptionKeyArn=self.key_arn("backups"))
        backup.put_backup_vault_lock_configuration(BackupVaultName=VAULT, MinRetentionDays=7, MaxRetentionDays=35,
                                                   ChangeableForDays=3)

    def key_arn(self, purpose: str) -> str:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.keys[purpose]}"

    def _storage(self) -> None:
        s3 = client("s3")
        for name, classification, key in ((SENSITIVE_BUCKET, "sensitive", self.key_arn("exports")),
                                          (LOGS_BUCKET, "not-sensitive", None)):
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
                *TAGS, {"Key": "data-classification", "Value": classification}]})
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if key else {"SSEAlgorithm": "AES256"}
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default}]})
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True})
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
        s3.create_bucket(Bucket="someone-elses-bucket-untagged", CreateBucketConfiguration={
            "LocationConstraint": REGION})

    def _edge(self) -> None:
        elb = client("elbv2")
        self.load_balancer = elb.create_load_balancer(Name="adp-dev-public", Subnets=self.subnets, Tags=TAGS)[
            "LoadBalancers"][0]["LoadBalancerArn"]
        certificate = client("acm").request_certificate(DomainName="api.example.com")["CertificateArn"]
        self.listeners["HTTPS"] = elb.create_listener(
            LoadBalancerArn=self.load_balancer, Protocol="HTTPS", Port=443,
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", Certificates=[{"CertificateArn": certificate}],
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])[
            "Listeners"][0]["ListenerArn"]
        self.listeners["HTTP"] = elb.create_listener(
            LoadBalancerArn=self.load_balancer, Protocol="HTTP", Port=80, DefaultActions=[{
                "Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                       "StatusCode": "HTTP_301"}}])["Listeners"][0]["ListenerArn"]
        waf = client("wafv2")
        acl = waf.create_web_acl(Name="adp-dev-service-public", Scope="REGIONAL", DefaultAction={"Allow": {}},
                                 VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                                                   "MetricName": "acl"})["Summary"]["ARN"]
        waf.associate_web_acl(WebACLArn=acl, ResourceArn=self.load_balancer)

    def _monitoring(self) -> None:
        client("s3").create_bucket(Bucket="adp-dev-audit-trailbucket", CreateBucketConfiguration={
            "LocationConstraint": REGION})
        trail = client("cloudtrail")
        trail.create_trail(Name=TRAIL, S3BucketName="adp-dev-audit-trailbucket", IsMultiRegionTrail=True,
                           EnableLogFileValidation=True, KmsKeyId=self.key_arn("database"))
        trail.start_logging(Name=TRAIL)
        client("guardduty").create_detector(Enable=True)
        client("securityhub").enable_security_hub()

    def _ecs(self) -> None:
        ecs = client("ecs")
        ecs.create_cluster(clusterName=ECS_CLUSTER)
        arn = register(CONTAINER_ENV)
        ecs.create_service(cluster=ECS_CLUSTER, serviceName="adp-dev-data", taskDefinition=arn, desiredCount=1)


def register(environment: dict[str, str], **container: Any) -> str:
    """A revision of the data service's task definition (the synthesized one, unless changed)."""
    return str(client("ecs").register_task_definition(family=FAMILY, containerDefinitions=[{
        "name": "runtime", "image": "runtime:1", "memory": 512, "readonlyRootFilesystem": True, "user": "10001",
        "environment": [*({"name": k, "value": v} for k, v in environment.items()),
                        {"name": "PLATFORM_DATABASE_HOST", "value": "adp-dev-db.cluster.example"}],
        "secrets": [{"name": "PLATFORM_AUDIT_CHAIN_KEY", "valueFrom": "arn:aws:secretsmanager:x"}],
        **container}])["taskDefinition"]["taskDefinitionArn"])


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)
