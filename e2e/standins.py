"""Stand-ins on the local AWS endpoint for what the templates declare, and the physical ids the resolver uses.

Made, in this order (each resolves its properties against those made before it):
KMS keys (with their key policies) and aliases; Secrets Manager secrets (values generated as
`GenerateSecretString` says, by the endpoint's own GetRandomPassword); the Aurora cluster's managed
master secret; S3 buckets; SNS topics; IAM roles with every policy the templates give them; SES
identities (template `AWS::SES::EmailIdentity` resources and every task's breach sender); then what only
`verify-deployed` reads: the new VPC with its tags, backup vaults and their locks, trails, and the ECS services
running their task definitions. Keys rotate as the templates say; buckets carry their tags and public access
blocks, but no bucket policy (moto would enforce its Deny statements on every caller, conditions ignored).

Imported resources the templates name by a literal id (an existing KMS key: `existing_key_arns`) get a
stand-in too; the local endpoint chooses its id, so the literal ARN (and key id) goes into the resolver's
`literals` table, which rewrites every resolved value (task environments, key policies, secrets), and the
entry is printed as a translation.

The Aurora cluster has two stand-ins: the local PostgreSQL (its endpoint attributes are the local address
and port; the tasks connect to it) and a cluster of the RDS API with the template's identifier, engine,
version, parameter group (with its parameters), subnet group, key and instances, which `restore` reads.
Load balancers get an ARN of the real form (`.../loadbalancer/app/NAME/ID`): the services check the ALB
signer's ARN. Everything else (VPC, WAF, ECS cluster, log groups...) gets a synthetic physical id whose
attributes are made up on demand, so references to it resolve.

IAM deviations, because of what moto can check (shared/notes/moto-iam.md):
- role policies keep their actions exactly; `Resource` becomes "*" and `Condition` is dropped in Allow
  statements (moto matches neither reliably); Deny statements are kept as the template says;
- a role's trust policy becomes "any principal of this account may assume it" (moto cannot evaluate a
  `Service` principal); the emulation's per-task user, allowed only sts:AssumeRole, stands in for ECS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets as random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from e2e.assembly import Environment, Stack
from e2e.moto_server import MotoServer
from e2e.resolve import Physical, Resolver
from e2e.translate import Translation

BREACH_SENDER_VARIABLE = "PLATFORM_BREACH_SENDER"  # runtime/settings.py BREACH_SENDER
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_TRUST_ANY_PRINCIPAL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


class _MadeUp(dict[str, Any]):
    """Attributes of a synthetic stand-in: any attribute resolves to a recognisable made-up value."""

    def __init__(self, ref: str) -> None:
        super().__init__()
        self._ref = ref

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"{self._ref}.{key}"


@dataclass(frozen=True)
class DatabaseStandIn:
    """The Aurora cluster, as the local PostgreSQL plays it."""

    stack: str
    logical_id: str
    cluster_id: str
    host: str
    port: int
    dbname: str
    master_user: str
    master_password: str = field(repr=False)
    master_secret_arn: str | None


@dataclass
class StandIns:
    resolver: Resolver
    created: dict[str, list[str]] = field(default_factory=dict)  # resource type -> what was made
    roles: dict[tuple[str, str], str] = field(default_factory=dict)  # (stack, logical id) -> role ARN
    database: DatabaseStandIn | None = None
    translations: list[Translation] = field(default_factory=list)
    load_balancers: dict[tuple[str, str], str] = field(default_factory=dict)  # (stack, logical id) -> ARN

    def record(self, kind: str, what: str) -> None:
        self.created.setdefault(kind, []).append(what)

    def translate(self, kind: str, template: str, local: str, why: str) -> None:
        entry = Translation(kind, template, local, why)
        if entry not in self.translations:
            self.translations.append(entry)


def create(env: Environment, moto: MotoServer, resolver: Resolver, *, db_host: str, db_port: int) -> StandIns:
    made = StandIns(resolver)
    _placeholders(env, made, db_host=db_host, db_port=db_port)
    _imported_keys(env, moto, made)
    _kms(env, moto, made)
    _secrets(env, moto, made)
    _database(env, moto, made)
    _rds_cluster(env, moto, made)
    _buckets(env, moto, made)
    _topics(env, moto, made)
    _roles(env, moto, made)
    _ses(env, moto, made)
    _deployed_state(env, moto, made)
    return made


# --- placeholders ------------------------------------------------------------------------------------


def _placeholders(env: Environment, made: StandIns, *, db_host: str, db_port: int) -> None:
    for stack in env.stacks.values():
        for logical_id in stack.resources:
            ref = f"{logical_id.lower()}-local"
            made.resolver.physical[(stack.name, logical_id)] = Physical(ref, _MadeUp(ref))
    for stack, logical_id, resource in env.resources("AWS::IAM::Role"):
        name = _role_name(stack, logical_id, resource)
        arn = f"arn:aws:iam::{env.account}:role/{name}"
        made.resolver.physical[(stack.name, logical_id)] = Physical(name, {"Arn": arn, "RoleId": f"AROA{name[:16]}"})
    for stack, logical_id, resource in env.resources("AWS::RDS::DBCluster"):
        properties = resource.get("Properties", {})
        cluster_id = str(properties.get("DBClusterIdentifier") or logical_id.lower())
        endpoint = {"Endpoint.Address": db_host, "Endpoint.Port": str(db_port),
                    "ReadEndpoint.Address": db_host, "ReadEndpoint.Port": str(db_port)}
        made.resolver.physical[(stack.name, logical_id)] = Physical(cluster_id, {
            **endpoint,
            "DBClusterArn": f"arn:aws:rds:{env.region}:{env.account}:cluster:{cluster_id}",
            "DBClusterResourceId": f"cluster-{cluster_id.upper().replace('-', '')}LOCAL",
        })
    for stack, logical_id, resource in env.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        arn, attributes = _load_balancer(env, stack, logical_id, resource)
        made.resolver.physical[(stack.name, logical_id)] = Physical(arn, attributes)
        made.load_balancers[(stack.name, logical_id)] = arn


def _load_balancer(env: Environment, stack: Stack, logical_id: str,
                   resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An ARN of the form AWS gives (the services check the signer's), a stable made-up id."""
    given = resource.get("Properties", {}).get("Name")
    name = str(given) if isinstance(given, str) else re.sub(r"[^A-Za-z0-9-]", "", f"{stack.name}-{logical_id}")[:32]
    name = name.strip("-") or "alb"
    lb_id = hashlib.sha256(f"{stack.name}/{logical_id}".encode()).hexdigest()[:16]
    kind = "net" if resource.get("Properties", {}).get("Type") == "network" else "app"
    arn = f"arn:aws:elasticloadbalancing:{env.region}:{env.account}:loadbalancer/{kind}/{name}/{lb_id}"
    attributes = _MadeUp(arn)
    attributes.update({"LoadBalancerArn": arn, "LoadBalancerFullName": f"{kind}/{name}/{lb_id}",
                       "LoadBalancerName": name, "DNSName": f"{name}-{lb_id}.{env.region}.elb.amazonaws.com"})
    return arn, attributes


# --- imported resources, by literal ARN --------------------------------------------------------------


def _literal_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _literal_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _literal_strings(item)


def imported_key_arns(env: Environment) -> list[str]:
    """Every KMS key ARN written literally in the templates: keys the environment imports (a key the
    templates create is referenced by Ref/GetAtt/GetStackOutput, never by a literal)."""
    found: list[str] = []
    for stack in env.stacks.values():
        for text in _literal_strings(stack.template.get("Resources", {})):
            for arn in KMS_KEY_ARN.findall(text):
                if arn not in found:
                    found.append(arn)
    return found


def _imported_keys(env: Environment, moto: MotoServer, made: StandIns) -> None:
    kms = moto.client("kms")
    for arn in imported_key_arns(env):
        key = kms.create_key(Description=f"stand-in for the imported key {arn}")["KeyMetadata"]
        made.resolver.literals[arn] = key["Arn"]
        made.resolver.literals[arn.rsplit("/", 1)[1]] = key["KeyId"]
        made.record("imported kms key", f"{arn} -> {key['Arn']}")
        made.translate("imported ARN", arn, key["Arn"],
                       "an existing key of the install: moto creates keys but cannot give one a chosen id")


def _role_name(stack: Stack, logical_id: str, resource: dict[str, Any]) -> str:
    name = resource.get("Properties", {}).get("RoleName")
    return str(name) if isinstance(name, str) else f"{stack.name}-{logical_id}"[:64]


def _properties(made: StandIns, stack: Stack, logical_id: str, resource: dict[str, Any]) -> dict[str, Any]:
    resolved = made.resolver.resolve(stack.name, resource.get("Properties", {}), f"Resources.{logical_id}.Properties")
    return dict(resolved)


# --- KMS, Secrets Manager, the database's master secret -----------------------------------------------


def _kms(env: Environment, moto: MotoServer, made: StandIns) -> None:
    kms = moto.client("kms")
    for stack, logical_id, resource in env.resources("AWS::KMS::Key"):
        props = _properties(made, stack, logical_id, resource)
        args: dict[str, Any] = {"Description": str(props.get("Description", logical_id))}
        if "KeyPolicy" in props:
            args["Policy"] = json.dumps(props["KeyPolicy"])
        for name in ("KeySpec", "KeyUsage"):
            if name in props:
                args[name] = props[name]
        key = kms.create_key(**args)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        made.resolver.physical[(stack.name, logical_id)] = Physical(key["KeyId"], {"Arn": key["Arn"],
                                                                                   "KeyId": key["KeyId"]})
        made.record("kms key", f"{stack.name}/{logical_id} {key['Arn']}")
    for stack, logical_id, resource in env.resources("AWS::KMS::Alias"):
        props = _properties(made, stack, logical_id, resource)
        kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        made.resolver.physical[(stack.name, logical_id)] = Physical(props["AliasName"], {})
        made.record("kms alias", props["AliasName"])


_PASSWORD_OPTIONS = ("PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation",
                     "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType")


def _generated(moto: MotoServer, spec: dict[str, Any]) -> str:
    """A value as `GenerateSecretString` describes it, generated by the endpoint's GetRandomPassword."""
    options = {name: spec[name] for name in _PASSWORD_OPTIONS if name in spec}
    password = str(moto.client("secretsmanager").get_random_password(**options)["RandomPassword"])
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


def _create_secret(moto: MotoServer, name: str, value: str, kms_key: str | None, description: str) -> str:
    args: dict[str, Any] = {"Name": name, "SecretString": value, "Description": description}
    if kms_key:
        args["KmsKeyId"] = kms_key
    return str(moto.client("secretsmanager").create_secret(**args)["ARN"])


def _secrets(env: Environment, moto: MotoServer, made: StandIns) -> None:
    for stack, logical_id, resource in env.resources("AWS::SecretsManager::Secret"):
        props = _properties(made, stack, logical_id, resource)
        if "SecretString" in props:
            value = str(props["SecretString"])
        else:
            value = _generated(moto, props.get("GenerateSecretString", {}))
        name = str(props.get("Name") or f"{stack.name}-{logical_id}")
        arn = _create_secret(moto, name, value, props.get("KmsKeyId"), str(props.get("Description", "")))
        made.resolver.physical[(stack.name, logical_id)] = Physical(arn, {"Id": arn})
        made.record("secret", f"{stack.name}/{logical_id} {arn}")


def _database(env: Environment, moto: MotoServer, made: StandIns) -> None:
    clusters = env.resources("AWS::RDS::DBCluster")
    if len(clusters) > 1:
        raise ValueError(f"the emulation plays one database cluster; environment {env.name} has {len(clusters)}")
    for stack, logical_id, resource in clusters:
        props = _properties(made, stack, logical_id, resource)
        physical = made.resolver.physical[(stack.name, logical_id)]
        user = str(props.get("MasterUsername") or "postgres")
        password = random.token_urlsafe(24)
        secret_arn = None
        if props.get("ManageMasterUserPassword"):
            kms_key = (props.get("MasterUserSecret") or {}).get("KmsKeyId")
            secret_arn = _create_secret(moto, f"rds!cluster-{physical.ref}",
                                        json.dumps({"username": user, "password": password}), kms_key,
                                        f"master user of {physical.ref} (managed by RDS)")
            physical.attributes["MasterUserSecret.SecretArn"] = secret_arn
            made.record("secret", f"{stack.name}/{logical_id} master user {secret_arn}")
        elif isinstance(props.get("MasterUserPassword"), str):
            password = props["MasterUserPassword"]
        made.database = DatabaseStandIn(
            stack=stack.name, logical_id=logical_id, cluster_id=physical.ref,
            host=str(physical.attributes["Endpoint.Address"]), port=int(physical.attributes["Endpoint.Port"]),
            dbname=str(props.get("DatabaseName") or "postgres"), master_user=user, master_password=password,
            master_secret_arn=secret_arn,
        )
        made.record("database", f"{stack.name}/{logical_id} {physical.ref} -> local PostgreSQL "
                                f"{made.database.host}:{made.database.port}/{made.database.dbname}")
        made.translate("database", f"{physical.ref} Endpoint.Address:Endpoint.Port",
                       f"{made.database.host}:{made.database.port}",
                       "a TLS PostgreSQL on 127.0.0.1 plays the Aurora cluster (rds_iam members are not "
                       "token-checked: rds-db:connect is proven statically)")


def _rds_cluster(env: Environment, moto: MotoServer, made: StandIns) -> None:
    """The cluster as the RDS API describes it (what `restore` reads), from the template's properties."""
    clusters = env.resources("AWS::RDS::DBCluster")
    if not clusters or made.database is None:
        return
    rds = moto.client("rds")
    stack, logical_id, resource = clusters[0]
    props = _properties(made, stack, logical_id, resource)
    args: dict[str, Any] = {"DBClusterIdentifier": made.database.cluster_id, "Engine": props["Engine"],
                            "MasterUsername": made.database.master_user}
    for name in ("EngineVersion", "Port", "StorageEncrypted", "KmsKeyId", "EnableIAMDatabaseAuthentication",
                 "DeletionProtection", "BackupRetentionPeriod", "CopyTagsToSnapshot", "EnableCloudwatchLogsExports",
                 "DatabaseName", "VpcSecurityGroupIds", "Tags", "PreferredBackupWindow",
                 "PreferredMaintenanceWindow"):
        if name in props:
            args[name] = props[name]
    # The master secret already stands in (see _database): moto's own managed secret would be a second one.
    args["MasterUserPassword"] = made.database.master_password
    group = _cluster_parameter_group(env, rds, made, props.get("DBClusterParameterGroupName"))
    if group:
        args["DBClusterParameterGroupName"] = group
    subnet_group = _subnet_group(env, moto, made, props.get("DBSubnetGroupName"))
    if subnet_group:
        args["DBSubnetGroupName"] = subnet_group
    rds.create_db_cluster(**args)
    made.record("rds cluster", f"{stack.name}/{logical_id} {made.database.cluster_id} ({props['Engine']} "
                               f"{props.get('EngineVersion', '')}) for the RDS API")
    for stack, logical_id, resource in env.resources("AWS::RDS::DBInstance"):
        props = _properties(made, stack, logical_id, resource)
        if props.get("DBClusterIdentifier") != made.database.cluster_id:
            continue
        identifier = str(props.get("DBInstanceIdentifier") or f"{made.database.cluster_id}-{logical_id.lower()}")
        instance: dict[str, Any] = {"DBInstanceIdentifier": identifier, "DBClusterIdentifier": made.database.cluster_id}
        for name in ("Engine", "DBInstanceClass", "AvailabilityZone", "PromotionTier", "CACertificateIdentifier",
                     "AutoMinorVersionUpgrade", "PubliclyAccessible", "EnablePerformanceInsights",
                     "PerformanceInsightsKMSKeyId", "Tags"):
            if name in props:
                instance[name] = props[name]
        rds.create_db_instance(**instance)
        made.resolver.physical[(stack.name, logical_id)] = Physical(identifier, _MadeUp(identifier))
        made.record("rds instance", identifier)


def _cluster_parameter_group(env: Environment, rds: Any, made: StandIns, name: Any) -> str | None:
    for stack, logical_id, resource in env.resources("AWS::RDS::DBClusterParameterGroup"):
        physical = made.resolver.physical[(stack.name, logical_id)]
        if physical.ref != name:
            continue
        props = _properties(made, stack, logical_id, resource)
        group = str(props.get("DBClusterParameterGroupName") or physical.ref)
        rds.create_db_cluster_parameter_group(DBClusterParameterGroupName=group, DBParameterGroupFamily=props["Family"],
                                              Description=str(props.get("Description", logical_id)))
        parameters = [{"ParameterName": k, "ParameterValue": str(v), "ApplyMethod": "pending-reboot"}
                      for k, v in (props.get("Parameters") or {}).items()]
        for at in range(0, len(parameters), 20):  # ModifyDBClusterParameterGroup takes 20 at a time
            rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=group, Parameters=parameters[at:at + 20])
        made.record("rds parameter group", group)
        return group
    return str(name) if isinstance(name, str) and name else None


def _subnet_group(env: Environment, moto: MotoServer, made: StandIns, name: Any) -> str | None:
    """The DB subnet group, on subnets of a stand-in VPC: the RDS API checks its subnets exist, and moto
    chooses subnet ids, so each template subnet id is mapped to its stand-in (printed)."""
    for stack, logical_id, resource in env.resources("AWS::RDS::DBSubnetGroup"):
        physical = made.resolver.physical[(stack.name, logical_id)]
        if physical.ref != name:
            continue
        props = _properties(made, stack, logical_id, resource)
        ec2 = moto.client("ec2")
        network = ipaddress.ip_network("10.250.0.0/16")
        vpc = ec2.create_vpc(CidrBlock=str(network))["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
        stand_ins = []
        for i, subnet in enumerate(props.get("SubnetIds", [])):
            cidr = list(network.subnets(new_prefix=24))[i]
            created = ec2.create_subnet(VpcId=vpc, CidrBlock=str(cidr), AvailabilityZone=zones[i % len(zones)])
            stand_ins.append(created["Subnet"]["SubnetId"])
            made.translate("subnet", str(subnet), stand_ins[-1],
                           "the DB subnet group's subnet: the RDS API needs it to exist, and moto chooses subnet ids")
        group = str(props.get("DBSubnetGroupName") or physical.ref)
        moto.client("rds").create_db_subnet_group(
            DBSubnetGroupName=group, DBSubnetGroupDescription=str(props.get("DBSubnetGroupDescription", group)),
            SubnetIds=stand_ins)
        made.record("rds subnet group", f"{group} ({len(stand_ins)} subnets)")
        return group
    return str(name) if isinstance(name, str) and name else None


# --- S3, SNS, SES -------------------------------------------------------------------------------------


def _bucket_name(env: Environment, stack_name: str, logical_id: str, props: Mapping[str, Any]) -> str:
    """The name CloudFormation gives the bucket: its BucketName; in S3's account-regional namespace
    "<BucketNamePrefix>-<account>-<region>-an"; otherwise a generated one."""
    if props.get("BucketName"):
        return str(props["BucketName"])
    if str(props.get("BucketNamespace", "")).lower() == "account-regional":
        return f"{props['BucketNamePrefix']}-{env.account}-{env.region}-an"
    return f"{stack_name}-{logical_id}".lower()[:63]


def _buckets(env: Environment, moto: MotoServer, made: StandIns) -> None:
    s3 = moto.client("s3")
    for stack, logical_id, resource in env.resources("AWS::S3::Bucket"):
        props = _properties(made, stack, logical_id, resource)
        name = _bucket_name(env, stack.name, logical_id, props)
        args: dict[str, Any] = {"Bucket": name}
        if env.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": env.region}
        lock = props.get("ObjectLockConfiguration") or {}
        if props.get("ObjectLockEnabled"):
            args["ObjectLockEnabledForBucket"] = True
        s3.create_bucket(**args)
        if lock.get("Rule"):  # the default retention (Object Lock, the audit checkpoints: P14)
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": lock["Rule"]})
        if "BucketEncryption" in props:
            rules = [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                 **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})}
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]  # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if props.get("Tags"):
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": tag["Key"], "Value": str(tag["Value"])}
                                                                   for tag in props["Tags"]]})
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=name,
                                       PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        made.resolver.physical[(stack.name, logical_id)] = Physical(name, {
            "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{env.region}.amazonaws.com",
        })
        made.record("bucket", name)
    if env.resources("AWS::S3::BucketPolicy"):
        made.translate("bucket policy", "every AWS::S3::BucketPolicy", "none",
                       "moto applies a bucket policy's Deny statements to every caller, ignoring principals and "
                       "conditions (the TLS-only Deny would refuse the emulation's plain-HTTP endpoint)")


def _topics(env: Environment, moto: MotoServer, made: StandIns) -> None:
    sns = moto.client("sns")
    for stack, logical_id, resource in env.resources("AWS::SNS::Topic"):
        props = _properties(made, stack, logical_id, resource)
        name = str(props.get("TopicName") or f"{stack.name}-{logical_id}"[:256])
        attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if "KmsMasterKeyId" in props else {}
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        made.resolver.physical[(stack.name, logical_id)] = Physical(arn, {"TopicArn": arn, "TopicName": name})
        made.record("topic", arn)


def _deployed_state(env: Environment, moto: MotoServer, made: StandIns) -> None:
    """What only `verify-deployed` reads: the new VPC with its tags, the backup vault (and its lock), the trail
    (logging), the ECS cluster with its services running their task definitions (environment, secrets, flags)."""
    ec2 = moto.client("ec2")
    for stack, logical_id, resource in env.resources("AWS::EC2::VPC"):
        props = _properties(made, stack, logical_id, resource)
        vpc = ec2.create_vpc(CidrBlock=str(props["CidrBlock"]), TagSpecifications=[{"ResourceType": "vpc", "Tags": [
            {"Key": tag["Key"], "Value": str(tag["Value"])} for tag in props.get("Tags", [])]}])["Vpc"]["VpcId"]
        made.record("vpc", f"{stack.name}/{logical_id} {vpc}")
    backup = moto.client("backup")
    for stack, logical_id, resource in env.resources("AWS::Backup::BackupVault"):
        props = _properties(made, stack, logical_id, resource)
        backup.create_backup_vault(BackupVaultName=props["BackupVaultName"],
                                   EncryptionKeyArn=props["EncryptionKeyArn"])
        lock = props.get("LockConfiguration")
        if lock:
            backup.put_backup_vault_lock_configuration(BackupVaultName=props["BackupVaultName"], **lock)
        made.record("backup vault", f"{props['BackupVaultName']}{' (locked)' if lock else ''}")
    trail = moto.client("cloudtrail")
    for stack, logical_id, resource in env.resources("AWS::CloudTrail::Trail"):
        props = _properties(made, stack, logical_id, resource)
        trail.create_trail(Name=props["TrailName"], S3BucketName=props["S3BucketName"],
                           IsMultiRegionTrail=bool(props.get("IsMultiRegionTrail")),
                           EnableLogFileValidation=bool(props.get("EnableLogFileValidation")),
                           KmsKeyId=props.get("KMSKeyId", ""))
        if props.get("IsLogging"):
            trail.start_logging(Name=props["TrailName"])
        made.record("trail", str(props["TrailName"]))
    _ecs(env, moto, made)


_CONTAINER_FLAGS = {"ReadonlyRootFilesystem": "readonlyRootFilesystem", "User": "user", "Privileged": "privileged",
                    "Essential": "essential", "Memory": "memory", "Cpu": "cpu"}


def _container(definition: dict[str, Any]) -> dict[str, Any]:
    """A container definition of the template in the ECS API's shape (the parts verify-deployed compares)."""
    container: dict[str, Any] = {
        "name": definition["Name"], "image": str(definition.get("Image", "runtime")),
        "environment": [{"name": e["Name"], "value": str(e.get("Value", ""))}
                        for e in definition.get("Environment", [])],
        "secrets": [{"name": s["Name"], "valueFrom": str(s["ValueFrom"])} for s in definition.get("Secrets", [])],
    }
    container.update({api: definition[name] for name, api in _CONTAINER_FLAGS.items() if name in definition})
    return container


def _ecs(env: Environment, moto: MotoServer, made: StandIns) -> None:
    ecs = moto.client("ecs")
    clusters: dict[tuple[str, str], str] = {}
    for stack, logical_id, resource in env.resources("AWS::ECS::Cluster"):
        props = _properties(made, stack, logical_id, resource)
        name = str(props.get("ClusterName") or logical_id)
        clusters[(stack.name, logical_id)] = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
    for stack, logical_id, resource in env.resources("AWS::ECS::Service"):
        service = resource.get("Properties", {})
        cluster = clusters.get((stack.name, service.get("Cluster", {}).get("Ref", "")))
        definition_id = service.get("TaskDefinition", {}).get("Ref", "")
        definition = stack.resources.get(definition_id)
        if cluster is None or definition is None:
            continue
        props = _properties(made, stack, definition_id, definition)
        arn = ecs.register_task_definition(
            family=str(props.get("Family", definition_id)),
            containerDefinitions=[_container(c) for c in props.get("ContainerDefinitions", [])],
            **({"cpu": str(props["Cpu"]), "memory": str(props["Memory"])} if "Cpu" in props else {}),
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName=logical_id, taskDefinition=arn, desiredCount=0)
        made.record("ecs service", f"{stack.name}/{logical_id} {arn}")


def breach_senders(env: Environment) -> list[str]:
    """Every literal breach sender any task definition's container sets."""
    found: list[str] = []
    for _, _, resource in env.resources("AWS::ECS::TaskDefinition"):
        for container in resource.get("Properties", {}).get("ContainerDefinitions", []):
            for variable in container.get("Environment", []):
                value = variable.get("Value")
                if variable.get("Name") == BREACH_SENDER_VARIABLE and isinstance(value, str) and value not in found:
                    found.append(value)
    return found


def _ses(env: Environment, moto: MotoServer, made: StandIns) -> None:
    ses = moto.client("ses")
    identities = [
        str(_properties(made, stack, logical_id, resource)["EmailIdentity"])
        for stack, logical_id, resource in env.resources("AWS::SES::EmailIdentity")
    ]
    for identity in dict.fromkeys([*identities, *breach_senders(env)]):
        ses.verify_email_identity(EmailAddress=identity)
        made.record("ses identity", identity)


# --- IAM -------------------------------------------------------------------------------------------


# S3 reads -> the action moto's access control checks them as: its action map has no entry for their query
# strings (?encryption, ?publicAccessBlock, ?object-lock), so it falls back to ListBucket.
MOTO_S3_ACTIONS = {"s3:GetEncryptionConfiguration": "s3:ListBucket",
                   "s3:GetBucketPublicAccessBlock": "s3:ListBucket",
                   "s3:GetBucketObjectLockConfiguration": "s3:ListBucket"}


def widened(document: dict[str, Any]) -> dict[str, Any]:
    """The policy with its actions exactly (plus moto's name of an S3 read it names otherwise), Allow statements on
    every resource and without conditions."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for statement in statements:
        statement = dict(statement)
        if statement.get("Effect") == "Allow":
            statement.pop("NotResource", None)
            statement.pop("Condition", None)
            statement["Resource"] = "*"
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else list(actions)
            statement["Action"] = actions + sorted({MOTO_S3_ACTIONS[a] for a in actions if a in MOTO_S3_ACTIONS}
                                                   - set(actions))
        out.append(statement)
    return {"Version": document.get("Version", "2012-10-17"), "Statement": out}


def _role_names(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]


def _roles(env: Environment, moto: MotoServer, made: StandIns) -> None:
    iam = moto.client("iam")
    made.translate("iam", "role policies' Allow statements", "the same actions on Resource * without Condition",
                   "moto's access control matches neither resources nor conditions reliably; resource scoping is "
                   "checked statically (P3-TaskPermissionContract)")
    made.translate("iam", ", ".join(MOTO_S3_ACTIONS), "s3:ListBucket added beside them",
                   "moto checks these S3 reads as s3:ListBucket (its action map lacks them)")
    made.translate("iam", "trust policies (Service principals)",
                   "any principal of the account; one user per task allowed only sts:AssumeRole",
                   "moto cannot evaluate a Service principal; the user stands in for ECS")
    for stack, logical_id, resource in env.resources("AWS::IAM::Role"):
        props = _properties(made, stack, logical_id, resource)
        physical = made.resolver.physical[(stack.name, logical_id)]
        iam.create_role(RoleName=physical.ref, AssumeRolePolicyDocument=json.dumps(_TRUST_ANY_PRINCIPAL),
                        Description=str(props.get("Description", ""))[:1000])
        for policy in props.get("Policies", []):
            iam.put_role_policy(RoleName=physical.ref, PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(widened(policy["PolicyDocument"])))
        for arn in props.get("ManagedPolicyArns", []):
            if ":aws:policy/" in str(arn):
                made.record("skipped", f"AWS managed policy {arn} on {physical.ref} (moto does not hold it)")
        made.roles[(stack.name, logical_id)] = str(physical.attributes["Arn"])
        made.record("role", f"{stack.name}/{logical_id} {physical.attributes['Arn']}")
    for stack, logical_id, resource in env.resources("AWS::IAM::Policy"):
        props = _properties(made, stack, logical_id, resource)
        for role in _role_names(props.get("Roles", [])):
            iam.put_role_policy(RoleName=role, PolicyName=str(props["PolicyName"]),
                                PolicyDocument=json.dumps(widened(props["PolicyDocument"])))
        made.resolver.physical[(stack.name, logical_id)] = Physical(str(props["PolicyName"]), {})
    for stack, logical_id, resource in env.resources("AWS::IAM::ManagedPolicy"):
        props = _properties(made, stack, logical_id, resource)
        name = str(props.get("ManagedPolicyName") or f"{stack.name}-{logical_id}"[:128])
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(widened(props["PolicyDocument"])))[
            "Policy"]["Arn"]
        for role in _role_names(props.get("Roles", [])):
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        made.resolver.physical[(stack.name, logical_id)] = Physical(arn, {"PolicyArn": arn})
