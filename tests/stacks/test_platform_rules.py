"""Every rule of the platform pack, proven on a compliant fixture and on one non-compliant fixture
per failure branch (each asserts the detail that branch reports, so it proves the branch it names).

Fixtures are small CloudFormation templates laid out like a cloud assembly (assembly-<env>/),
so each rule sees exactly what it sees in a real synth. The real environments are checked too
(every rule compliant on operator and self-hosted templates), and one tiny CDK app proves the
pack fires through CDK's validation like the cdk-nag packs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs

from stacks.config import EnvironmentConfig, PlatformConfig
from stacks.policy.platform_pack import PlatformPolicyPack
from stacks.policy.rules import ALL_RULES, AssemblyView, Rule, Status
from stacks.synth import read_findings
from tests.stacks.conftest import Assembly

DEV = EnvironmentConfig(name="dev", kind="dev", account="111111111111", region="eu-west-1", vpc_cidr="10.10.0.0/16")
PROD = EnvironmentConfig(
    name="prod", kind="prod", account="333333333333", region="eu-west-1", vpc_cidr="10.30.0.0/16", hipaa=True
)
CONFIG = PlatformConfig(source="fixture", app_name="adp", environments=(DEV, PROD))
RULES = {rule.id: rule for rule in ALL_RULES}
SENSITIVE = [{"Key": "data-classification", "Value": "sensitive"}]
NOT_SENSITIVE = [{"Key": "data-classification", "Value": "not-sensitive"}]


def _res(type_: str, props: dict[str, Any], path: str = "") -> dict[str, Any]:
    return {"Type": type_, "Properties": props, "Metadata": {"aws:cdk:path": path}}


def _view(tmp_path: Path, stacks: dict[str, dict[str, dict[str, Any]]]) -> AssemblyView:
    """`stacks`: env -> stack file name -> {"Resources": ..., "Outputs": ...}."""
    paths = []
    for env, templates in stacks.items():
        folder = tmp_path / f"assembly-{env}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, template in templates.items():
            path = folder / f"{name}.template.json"
            path.write_text(json.dumps(template))
            paths.append(str(path))
    return AssemblyView(paths, CONFIG)


def _statuses(rule: Rule, view: AssemblyView) -> list[Status]:
    return [result.status for result in rule.evaluate(view)]


KEY = _res("AWS::KMS::Key", {"EnableKeyRotation": True}, "dev/Keys/LogsKey/Resource")
KEY_OUTPUT = {"KeyArn": {"Value": {"Fn::GetAtt": ["LogsKey", "Arn"]}}}
KEY_REF = {"Fn::GetStackOutput": {"StackName": "adp-dev-keys", "OutputName": "KeyArn"}}


def _keys_stack(rotation: bool = True) -> dict[str, Any]:
    key = copy.deepcopy(KEY)
    key["Properties"]["EnableKeyRotation"] = rotation
    return {"Resources": {"LogsKey": key}, "Outputs": KEY_OUTPUT}


def _log_group(key: Any = KEY_REF, tags: Any = NOT_SENSITIVE) -> dict[str, Any]:
    props: dict[str, Any] = {"RetentionInDays": 30, "Tags": tags}
    if key is not None:
        props["KmsKeyId"] = key
    return _res("AWS::Logs::LogGroup", props, "dev/Network/FlowLogs/LogGroup/Resource")


def _cluster(
    instances_zones: list[str | None], force_ssl: str = "1", retention: int = 7, parameter_group: bool = True
) -> dict[str, Any]:
    cluster_props: dict[str, Any] = {
        "DBClusterIdentifier": "adp-dev-db",
        "KmsKeyId": KEY_REF,
        "BackupRetentionPeriod": retention,
        "Tags": SENSITIVE,
    }
    if parameter_group:
        cluster_props["DBClusterParameterGroupName"] = {"Ref": "Params"}
    resources: dict[str, Any] = {
        "Params": _res("AWS::RDS::DBClusterParameterGroup", {"Parameters": {"rds.force_ssl": force_ssl}}),
        "Cluster": _res("AWS::RDS::DBCluster", cluster_props, "dev/Data/Cluster/Resource"),
    }
    for index, zone in enumerate(instances_zones):
        props: dict[str, Any] = {"DBClusterIdentifier": {"Ref": "Cluster"}, "Tags": SENSITIVE}
        if zone:
            props["AvailabilityZone"] = zone
        resources[f"Instance{index}"] = _res("AWS::RDS::DBInstance", props, f"dev/Data/Cluster/I{index}/Resource")
    return {"Resources": resources}


LOCK = {"MinRetentionDays": 7}


def _backup(
    schedule: str,
    continuous: bool,
    lock: dict[str, Any] | None = None,
    vault_key: bool = True,
    delete_after: bool = True,
) -> dict[str, Any]:
    vault: dict[str, Any] = {"BackupVaultName": "v", "BackupVaultTags": {"data-classification": "sensitive"}}
    if vault_key:
        vault["EncryptionKeyArn"] = KEY_REF
    if lock is not None:
        vault["LockConfiguration"] = lock
    lifecycle = {"DeleteAfterDays": 35} if delete_after else {}
    rules: list[dict[str, Any]] = [
        {
            "RuleName": "Daily",
            "ScheduleExpression": schedule,
            "TargetBackupVault": {"Ref": "Vault"},
            "Lifecycle": lifecycle,
        }
    ]
    if continuous:
        rules.append(
            {
                "RuleName": "Pitr",
                "ScheduleExpression": schedule,
                "EnableContinuousBackup": True,
                "TargetBackupVault": {"Ref": "Vault"},
                "Lifecycle": lifecycle,
            }
        )
    cluster_ref = {"Fn::GetStackOutput": {"StackName": "adp-dev-data", "OutputName": "ClusterRef"}}
    return {
        "Resources": {
            "Vault": _res("AWS::Backup::BackupVault", vault, "dev/Backup/Vault/Resource"),
            "Plan": _res("AWS::Backup::BackupPlan", {"BackupPlan": {"BackupPlanRule": rules}}),
            "Selection": _res(
                "AWS::Backup::BackupSelection",
                {
                    "BackupPlanId": {"Fn::GetAtt": ["Plan", "BackupPlanId"]},
                    "BackupSelection": {"Resources": [{"Fn::Join": ["", ["arn:aws:rds:::cluster:", cluster_ref]]}]},
                },
            ),
        }
    }


def _data_with_output(zones: list[str | None], retention: int = 7) -> dict[str, Any]:
    data = _cluster(zones, retention=retention)
    data["Outputs"] = {"ClusterRef": {"Value": {"Ref": "Cluster"}}}
    return data


def _backed_up(**backup: Any) -> dict[str, Any]:
    """A dev environment whose cluster (two zones) is selected by the backup plan `_backup(**backup)`."""
    retention = int(backup.pop("retention", 7))
    return {
        "dev": {
            "adp-dev-keys": _keys_stack(),
            "adp-dev-data": _data_with_output(["eu-west-1a", "eu-west-1b"], retention=retention),
            "adp-dev-backup": _backup(**{"schedule": "cron(0 3 * * ? *)", "continuous": True, **backup}),
        }
    }


SUPPORT_EGRESS = {"CidrIp": "10.10.60.0/24", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
VPN_SG = {"Fn::GetAtt": ["VpnSg", "GroupId"]}


def _vpn(
    rule_cidr: str = "10.10.60.0/24",
    *,
    egress: dict[str, Any] = SUPPORT_EGRESS,
    logging: bool = True,
    support_subnet: bool = True,
    own_security_group: bool = True,
    admit_from_vpn_to: Any = "SupportAlbSg",
    app_sg_admits_vpn: bool = False,
    dns_server: str = "10.10.0.2",  # the VPC's resolver: its base address + 2
    resolver_rule: str = "10.10.0.2/32",
) -> dict[str, Any]:
    subnet_tier = "support" if support_subnet else "app"
    app_sg: dict[str, Any] = {}
    if app_sg_admits_vpn:
        app_sg["SecurityGroupIngress"] = [{"SourceSecurityGroupId": VPN_SG, "FromPort": 8443, "IpProtocol": "tcp"}]
    target = (
        admit_from_vpn_to if not isinstance(admit_from_vpn_to, str) else {"Fn::GetAtt": [admit_from_vpn_to, "GroupId"]}
    )
    return {
        "Resources": {
            "Vpc": _res("AWS::EC2::VPC", {"CidrBlock": "10.10.0.0/16"}),
            "Subnet": _res(
                "AWS::EC2::Subnet",
                {"CidrBlock": "10.10.60.0/24", "Tags": [{"Key": "aws-cdk:subnet-name", "Value": subnet_tier}]},
            ),
            "AppSubnet": _res(
                "AWS::EC2::Subnet",
                {"CidrBlock": "10.10.16.0/20", "Tags": [{"Key": "aws-cdk:subnet-name", "Value": "app"}]},
            ),
            "VpnSg": _res("AWS::EC2::SecurityGroup", {"SecurityGroupEgress": [egress]}, "dev/Access/VpnSg/Resource"),
            "Vpn": _res(
                "AWS::EC2::ClientVpnEndpoint",
                {
                    "ConnectionLogOptions": {"Enabled": logging},
                    "SecurityGroupIds": [VPN_SG] if own_security_group else [],
                    "DnsServers": [dns_server],
                },
                "dev/Access/Vpn/Resource",
            ),
            "Rule": _res(
                "AWS::EC2::ClientVpnAuthorizationRule",
                {"TargetNetworkCidr": rule_cidr},
                "dev/Access/SupportRule/Resource",
            ),
            "ResolverRule": _res(
                "AWS::EC2::ClientVpnAuthorizationRule",
                {"TargetNetworkCidr": resolver_rule},
                "dev/Access/VpcResolver/Resource",
            ),
            "SupportAlbSg": _res("AWS::EC2::SecurityGroup", {}, "dev/Service/SupportAlb/SecurityGroup/Resource"),
            "AppSg": _res("AWS::EC2::SecurityGroup", app_sg, "dev/Service/AppSg/Resource"),
            "SupportAlb": _res(
                "AWS::ElasticLoadBalancingV2::LoadBalancer",
                {"Scheme": "internal", "SecurityGroups": [{"Fn::GetAtt": ["SupportAlbSg", "GroupId"]}]},
            ),
            "Ingress": _res(
                "AWS::EC2::SecurityGroupIngress",
                {"GroupId": target, "SourceSecurityGroupId": VPN_SG, "FromPort": 443, "ToPort": 443},
                "dev/Service/FromVpn/Resource",
            ),
        }
    }


def _listener(
    protocol: str, policy: str | None = None, action: str | None = "forward", redirect_to: str = "HTTPS"
) -> dict[str, Any]:
    props: dict[str, Any] = {"Protocol": protocol, "DefaultActions": [{"Type": action}] if action else []}
    if action == "redirect":
        props["DefaultActions"][0]["RedirectConfig"] = {"Protocol": redirect_to, "Port": "443"}
    if policy:
        props["SslPolicy"] = policy
    return {"Resources": {"Listener": _res("AWS::ElasticLoadBalancingV2::Listener", props)}}


def _task(environment: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Resources": {
            "Task": _res(
                "AWS::ECS::TaskDefinition", {"ContainerDefinitions": [{"Name": "runtime", "Environment": environment}]}
            )
        }
    }


def _permission_task(commands: str | None, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """A task (declaring `commands`, IAM auth on) with a role holding `statements`, beside a cluster whose
    RDS-managed master secret the rule knows."""
    environment = [{"Name": "PLATFORM_DATABASE_IAM_AUTH", "Value": "true"},
                   {"Name": "PLATFORM_DATABASE_USER", "Value": "platform_support"}]
    if commands is not None:
        environment.append({"Name": "PLATFORM_TASK_COMMANDS", "Value": commands})
    task = _res("AWS::ECS::TaskDefinition", {"TaskRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                                             "ContainerDefinitions": [{"Name": "runtime", "Environment": environment}]})
    policy = _res("AWS::IAM::ManagedPolicy", {"Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": statements}})
    cluster = _res("AWS::RDS::DBCluster", {"ManageMasterUserPassword": True})
    return {"dev": {"s": {"Resources": {"Task": task, "Role": _res("AWS::IAM::Role", {}), "Policy": policy,
                                        "Cluster": cluster}}}}


DB_CONNECT = {"Effect": "Allow", "Action": "rds-db:connect",
              "Resource": "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*/platform_support"}
OWNER_CONNECT = "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*/platform_owner"  # another user than the task's
READ_MASTER_SECRET = {"Sid": "Master", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                      "Resource": {"Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]}}


def _in_dev(*resources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A dev environment with its keys stack and one stack holding `resources` (logical id, resource)."""
    return {"dev": {"adp-dev-keys": _keys_stack(), "adp-dev-n": {"Resources": dict(resources)}}}


def _vpcs(dev_cidr: Any, prod_cidr: str) -> dict[str, Any]:
    return {
        "dev": {"n": {"Resources": {"Vpc": _res("AWS::EC2::VPC", {"CidrBlock": dev_cidr})}}},
        "prod": {"n": {"Resources": {"Vpc": _res("AWS::EC2::VPC", {"CidrBlock": prod_cidr})}}},
    }


def _target_group(props: dict[str, Any]) -> dict[str, Any]:
    return {"prod": {"s": {"Resources": {"T": _res("AWS::ElasticLoadBalancingV2::TargetGroup", props)}}}}


TWO_ZONES: list[str | None] = ["eu-west-1a", "eu-west-1b"]
HTTPS_LISTENER = _listener("HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06")

# rule id -> its compliant fixture; each fixture: env -> stack -> template
COMPLIANT: dict[str, dict[str, Any]] = {
    "P3-TaskPermissionContract": _permission_task("serve support", [DB_CONNECT]),
    "P1-NoCrossEnvironmentReference": {
        "dev": {"adp-dev-keys": _keys_stack(), "adp-dev-n": {"Resources": {"Logs": _log_group()}}}
    },
    "P1-DisjointAddressSpaces": _vpcs("10.10.0.0/16", "10.30.0.0/16"),
    "P2-DataStoresClassified": _in_dev(("Logs", _log_group())),
    "P4-SupportVpnConfined": {"dev": {"a": _vpn()}},
    "P5-ListenersHttpsOnly": {"dev": {"s": HTTPS_LISTENER, "r": _listener("HTTP", action="redirect")}},
    "P5-DatabaseForcesTls": {"dev": {"adp-dev-keys": _keys_stack(), "d": _cluster(TWO_ZONES)}},
    "P5-HipaaTargetsHttps": _target_group({"Protocol": "HTTPS", "HealthCheckProtocol": "HTTPS"}),
    "P6-CustomerManagedKeys": _in_dev(("Logs", _log_group())),
    "P7-NoSecretsInTaskEnvironment": {
        "dev": {"s": _task([{"Name": "PLATFORM_DATABASE_HOST", "Value": "db.internal"}])}
    },
    "P7-SensitiveStoresConfined": {"dev": {"adp-dev-keys": _keys_stack(), "d": _cluster(TWO_ZONES)}},
    "P8-MultiAzDatabase": {"dev": {"adp-dev-keys": _keys_stack(), "d": _cluster(TWO_ZONES)}},
    "P9-DailyEncryptedBackups": _backed_up(),
    "P11-PointInTimeRecovery": _backed_up(),
    "P9-ProductionVaultLock": {"prod": {"b": _backup("cron(0 3 * * ? *)", continuous=True, lock=LOCK)}},
}

# rule id -> failure branch -> (a fixture that reaches it, a fragment of the detail that branch reports).
# One case per way the rule can return non-compliant, as cdk-nag numbers its non-compliance cases.
NON_COMPLIANT: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    # Every branch, with its detail, in tests/stacks/test_permission_contract.py; one fixture per branch here too.
    "P3-TaskPermissionContract": {
        "no declaration": (_permission_task(None, [DB_CONNECT]), "declare the commands this task runs"),
        "unknown command": (_permission_task("serve everything", [DB_CONNECT]), "which is not a runtime command"),
        "missing grant": (_permission_task("serve support", []), "rds-db:connect on the database user"),
        "grant on another resource": (
            _permission_task("serve support", [{**DB_CONNECT, "Resource": OWNER_CONNECT}]),
            "rds-db:connect on the database user (allowed only on other resources)",
        ),
        "master secret outside setup": (
            _permission_task("serve support", [DB_CONNECT, READ_MASTER_SECRET]),
            "can read the database's master secret",
        ),
    },
    "P1-NoCrossEnvironmentReference": {
        "stack output of another environment": (
            _in_dev(
                ("Logs", _log_group(key={"Fn::GetStackOutput": {"StackName": "adp-prod-keys", "OutputName": "K"}}))
            ),
            "references stack adp-prod-keys",
        ),
        "export of another environment": (
            _in_dev(("Logs", _log_group(key={"Fn::ImportValue": "adp-prod-keys:KeyArn"}))),
            "references stack adp-prod-keys",
        ),
        "another environment's account": (
            _in_dev(("Logs", _log_group(key="arn:aws:kms:eu-west-1:333333333333:key/1234abcd"))),
            "names prod's account 333333333333",
        ),
        "another environment's key alias": (
            _in_dev(("Logs", _log_group(key="alias/adp/prod/logs"))),
            "names a resource of prod",
        ),
        "another environment's resource name": (
            _in_dev(
                ("Role", _res("AWS::IAM::Role", {"RoleName": "adp-prod-exports-writer"}, "dev/Service/Role/Resource"))
            ),
            "names a resource of prod",
        ),
        "peering": (
            _in_dev(("Peer", _res("AWS::EC2::VPCPeeringConnection", {"VpcId": "vpc-1", "PeerVpcId": "vpc-2"}))),
            "is a AWS::EC2::VPCPeeringConnection",
        ),
    },
    "P1-DisjointAddressSpaces": {
        "overlapping ranges": (_vpcs("10.10.0.0/16", "10.10.128.0/17"), "overlaps prod (10.10.128.0/17)"),
        "range not a literal": (_vpcs({"Ref": "VpcCidr"}, "10.30.0.0/16"), "the VPC's CIDR is not a literal"),
    },
    "P2-DataStoresClassified": {
        "no tag": (_in_dev(("Logs", _log_group(tags=[]))), "no data-classification tag"),
        "unknown class": (
            _in_dev(("Logs", _log_group(tags=[{"Key": "data-classification", "Value": "secret"}]))),
            "data-classification=secret",
        ),
    },
    "P4-SupportVpnConfined": {
        "connection logging off": ({"dev": {"a": _vpn(logging=False)}}, "connection logging is off"),
        "no support subnets": ({"dev": {"a": _vpn(support_subnet=False)}}, "no support subnets found to authorize"),
        "rule beyond the support tier": (
            {"dev": {"a": _vpn("10.10.0.0/16")}},  # authorizes the whole VPC
            "authorization rule Access/SupportRule/Resource targets 10.10.0.0/16, outside the support tier",
        ),
        "DNS server other than the VPC's resolver": (
            {"dev": {"a": _vpn(dns_server="10.10.16.5", resolver_rule="10.10.16.5/32")}},
            "DNS server 10.10.16.5 is not the VPC's resolver",
        ),
        "a host rule that is not the VPN's resolver": (
            {"dev": {"a": _vpn(resolver_rule="10.10.16.5/32")}},  # an app-tier host, not the DNS server
            "authorization rule Access/VpcResolver/Resource targets 10.10.16.5/32, outside the support tier",
        ),
        "no security group of its own": (
            {"dev": {"a": _vpn(own_security_group=False)}},
            "no security group of its own",
        ),
        "egress beyond the support tier": (
            {"dev": {"a": _vpn(egress={**SUPPORT_EGRESS, "CidrIp": "0.0.0.0/0"})}},
            "VPN security group lets traffic out to 0.0.0.0/0",
        ),
        "egress to a security group": (
            {"dev": {"a": _vpn(egress={"DestinationSecurityGroupId": {"Fn::GetAtt": ["AppSg", "GroupId"]}})}},
            "VPN security group lets traffic out to {'DestinationSecurityGroupId'",
        ),
        "ingress rule admits the VPN elsewhere": (
            {"dev": {"a": _vpn(admit_from_vpn_to="AppSg")}},
            "Service/FromVpn/Resource admits the VPN to Service/AppSg/Resource",
        ),
        "ingress rule admits the VPN to an unknown group": (
            {"dev": {"a": _vpn(admit_from_vpn_to="sg-0123456789abcdef0")}},
            "Service/FromVpn/Resource admits the VPN to an unknown group",
        ),
        "security group admits the VPN inline": (
            {"dev": {"a": _vpn(app_sg_admits_vpn=True)}},
            "Service/AppSg/Resource admits the VPN: ",
        ),
    },
    "P5-ListenersHttpsOnly": {
        "HTTPS below TLS 1.2": (
            {"dev": {"s": _listener("HTTPS", "ELBSecurityPolicy-2016-08")}},  # allows TLS 1.0
            "HTTPS with ELBSecurityPolicy-2016-08",
        ),
        "plain HTTP serving": ({"dev": {"s": _listener("HTTP")}}, "HTTP serves"),
        "plain HTTP without actions": ({"dev": {"s": _listener("HTTP", action=None)}}, "HTTP serves"),
        "plain HTTP redirecting to HTTP": (
            {"dev": {"s": _listener("HTTP", action="redirect", redirect_to="HTTP")}},
            "HTTP serves",
        ),
    },
    "P5-DatabaseForcesTls": {
        "force_ssl off": ({"dev": {"d": _cluster(TWO_ZONES, force_ssl="0")}}, "rds.force_ssl=0"),
        "no parameter group": ({"dev": {"d": _cluster(TWO_ZONES, parameter_group=False)}}, "rds.force_ssl=None"),
    },
    "P5-HipaaTargetsHttps": {
        "HTTP targets": (_target_group({"Protocol": "HTTP"}), "HTTP (HIPAA mode on)"),
        "HTTP health checks": (
            _target_group({"Protocol": "HTTPS", "HealthCheckProtocol": "HTTP"}),
            "HTTPS (HIPAA mode on)",
        ),
    },
    "P6-CustomerManagedKeys": {
        "no key": (_in_dev(("Logs", _log_group(key=None))), "no customer-managed key"),
        "not a key ARN": (_in_dev(("Logs", _log_group(key="alias/aws/logs"))), "is not a customer-managed key ARN"),
        "key of another account": (
            _in_dev(("Logs", _log_group(key="arn:aws:kms:eu-west-1:222222222222:key/1234abcd"))),
            "existing key in account 222222222222",
        ),
        "reference to no KMS key": (
            _in_dev(("Logs", _log_group(key={"Ref": "NoSuchKey"}))),
            "its key is not a KMS key of this environment",
        ),
        "rotation off": (
            {"dev": {"adp-dev-keys": _keys_stack(rotation=False), "n": {"Resources": {"Logs": _log_group()}}}},
            "rotation OFF",
        ),
    },
    "P7-NoSecretsInTaskEnvironment": {
        "secret-looking name": (
            {"dev": {"s": _task([{"Name": "DATABASE_PASSWORD", "Value": "hunter2"}])}},
            "variable DATABASE_PASSWORD looks like a secret",
        ),
        "secret-looking value": (
            {"dev": {"s": _task([{"Name": "GREETING", "Value": "AKIAABCDEFGHIJKLMNOP"}])}},
            "variable GREETING holds secret-looking material",
        ),
    },
    "P7-SensitiveStoresConfined": {
        "sensitive log group": (_in_dev(("Logs", _log_group(tags=SENSITIVE))), "a SENSITIVE AWS::Logs::LogGroup"),
        "sensitive bucket that is not the export bucket": (
            _in_dev(("Bucket", _res("AWS::S3::Bucket", {"Tags": SENSITIVE}, "dev/Storage/Bucket/Resource"))),
            "a SENSITIVE AWS::S3::Bucket",
        ),
    },
    "P8-MultiAzDatabase": {
        # A second member is implied by two pinned zones: "fewer than two instances" has no case of its own.
        "one zone": ({"dev": {"d": _cluster(["eu-west-1a", "eu-west-1a"])}}, "2 instances in zones ['eu-west-1a']"),
        "a zone left to chance": ({"dev": {"d": _cluster(["eu-west-1a", None])}}, "(some not pinned)"),
        "single instance": ({"dev": {"d": _cluster(["eu-west-1a"])}}, "1 instances in zones ['eu-west-1a']"),
    },
    "P9-DailyEncryptedBackups": {
        "no daily rule": (_backed_up(schedule="cron(0 3 ? * MON *)"), "no daily backup rule selects it"),  # weekly
        "vault without a customer-managed key": (
            _backed_up(vault_key=False),
            "rule Daily targets a vault without a customer-managed key",
        ),
        "copies kept forever": (_backed_up(delete_after=False), "rule Daily keeps copies forever"),
    },
    "P11-PointInTimeRecovery": {
        "no continuous backup, no retention": (
            _backed_up(continuous=False, retention=0),
            "continuous backup off, automated retention 0 days",
        ),
    },
    "P9-ProductionVaultLock": {
        "no lock": ({"prod": {"b": _backup("cron(0 3 * * ? *)", continuous=True)}}, "no lock"),
        "lock without a minimum retention": (
            {"prod": {"b": _backup("cron(0 3 * * ? *)", continuous=True, lock={"MaxRetentionDays": 365})}},
            "lock {'MaxRetentionDays': 365}",
        ),
    },
}
CASES = [(rule_id, case) for rule_id, cases in NON_COMPLIANT.items() for case in cases]


def test_every_rule_has_fixtures_and_cites_promises() -> None:
    assert set(COMPLIANT) == set(NON_COMPLIANT) == set(RULES)
    assert all(NON_COMPLIANT[rule_id] for rule_id in RULES)
    for rule in ALL_RULES:
        assert rule.promises and all(p.startswith("P") for p in rule.promises)
        assert len(rule.explanation) > 40 and rule.title


@pytest.mark.parametrize("rule_id", sorted(COMPLIANT))
def test_rule_compliant_fixture_passes(tmp_path: Path, rule_id: str) -> None:
    statuses = _statuses(RULES[rule_id], _view(tmp_path, COMPLIANT[rule_id]))
    assert Status.COMPLIANT in statuses and Status.NON_COMPLIANT not in statuses


@pytest.mark.parametrize(("rule_id", "case"), CASES, ids=[f"{rule_id}: {case}" for rule_id, case in CASES])
def test_rule_non_compliant_fixture_fires_in_its_branch(tmp_path: Path, rule_id: str, case: str) -> None:
    fixture, detail = NON_COMPLIANT[rule_id][case]
    failing = [r.detail for r in RULES[rule_id].evaluate(_view(tmp_path, fixture)) if r.status is Status.NON_COMPLIANT]
    assert any(detail in found for found in failing), failing


def test_rule_not_applicable_outside_its_scope(tmp_path: Path) -> None:
    # HIPAA rule in a non-HIPAA environment, vault lock outside production.
    view = _view(
        tmp_path,
        {
            "dev": {
                "s": {"Resources": {"T": _res("AWS::ElasticLoadBalancingV2::TargetGroup", {"Protocol": "HTTP"})}},
                "b": _backup("cron(0 3 * * ? *)", continuous=True),
            }
        },
    )
    assert _statuses(RULES["P5-HipaaTargetsHttps"], view) == [Status.NOT_APPLICABLE]
    assert _statuses(RULES["P9-ProductionVaultLock"], view) == [Status.NOT_APPLICABLE]


@pytest.mark.parametrize("install", ["operator", "selfhosted"])
def test_rules_real_environments_are_compliant_or_acknowledged(request: pytest.FixtureRequest, install: str) -> None:
    assembly: Assembly = request.getfixturevalue(install)
    results = assembly.outcome.policy_results
    assert {r.rule for r in results} >= set(RULES) - {"P1-DisjointAddressSpaces"} or install == "operator"
    acknowledged = {(f.environment, f.path) for f, _ in assembly.outcome.acknowledged if f.plugin == "Platform Policy"}
    for result in results:
        if result.status is Status.NON_COMPLIANT:
            assert (result.resource.environment, result.resource.path) in acknowledged, result


def test_pack_fires_through_cdk_validation(tmp_path: Path) -> None:
    """A tiny CDK app with an unclassified, AWS-encrypted log group fails the pack like a nag pack would."""
    app = cdk.App(outdir=str(tmp_path), context={"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = cdk.Stage(app, "dev", env=cdk.Environment(account=DEV.account, region=DEV.region))
    logs.LogGroup(cdk.Stack(stage, "Logs"), "Plain")
    pack = PlatformPolicyPack(CONFIG)
    cdk.Validations.of(app).add_plugins(pack)
    app.synth()
    rules = {f.rule for f in read_findings(tmp_path / "validation-report.json")}
    assert {"Platform-Policy::P6-CustomerManagedKeys", "Platform-Policy::P2-DataStoresClassified"} <= rules
    assert any(r.status is Status.NON_COMPLIANT for r in pack.results)
