"""Issue 14's deploy blockers 3-7, 9-11 and the naming/DNS parts of 12, read from the synthesized templates
(and the runtime's Dockerfile): each failed on the code before its fix."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.settings import DEFAULT_SERVICE_MAX_BODY_BYTES
from stacks.config import ConfigError, load_config
from tests.stacks.conftest import OPERATOR_CONFIG, ROOT, Assembly
from tests.stacks.template_helpers import walk

ENVIRONMENTS = ("dev", "qa", "prod")
DOCKERFILE = ROOT / "runtime" / "Dockerfile"


def _resources(assembly: Assembly, env: str, resource_type: str) -> list[dict[str, Any]]:
    return [resource for _, _, resource in assembly.resources(env, resource_type)]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def _service_principals(statement: dict[str, Any]) -> set[str]:
    principal = statement.get("Principal", {})
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    return {services} if isinstance(services, str) else set(services)


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _audit_key_policy(assembly: Assembly, env: str) -> list[dict[str, Any]]:
    template = assembly.env_templates(env)[f"adp-{env}-keys"]
    ((key),) = [
        resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::KMS::Key" and logical_id.startswith("AuditKey")
    ]
    return _statements(key["Properties"]["KeyPolicy"])


def _condition_keys(statement: dict[str, Any]) -> set[str]:
    return {key for operator in statement.get("Condition", {}).values() for key in operator}


def _allowed(statements: list[dict[str, Any]], principal: str, action: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if s["Effect"] == "Allow" and principal in _service_principals(s) and action in _actions(s)
    ]


# --- 3. CloudTrail's key policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_audit_key_cloudtrail_statements_are_as_documented_for_this_trail(operator: Assembly, env: str) -> None:
    statements = _audit_key_policy(operator, env)
    trail = f"arn:aws:cloudtrail:eu-west-1:{operator.config.environment(env).account}:trail/adp-{env}"
    cloudtrail = "cloudtrail.amazonaws.com"

    (encrypt,) = _allowed(statements, cloudtrail, "kms:GenerateDataKey*")
    assert "kms:EncryptionContext:aws:cloudtrail:arn" in encrypt["Condition"]["StringLike"]
    assert encrypt["Condition"]["StringEquals"]["aws:SourceArn"] == trail

    describe = _allowed(statements, cloudtrail, "kms:DescribeKey")
    assert describe, "CloudTrail must be able to describe the key"
    for statement in describe:  # DescribeKey carries no encryption context: such a condition never matches
        assert not any(key.startswith("kms:EncryptionContext") for key in _condition_keys(statement))
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == trail

    (decrypt,) = _allowed(statements, cloudtrail, "kms:Decrypt")  # the trail bucket uses an S3 Bucket Key
    assert decrypt["Condition"]["StringEquals"]["aws:SourceArn"] == trail
    ((_, _, bucket),) = [r for r in operator.resources(env, "AWS::S3::Bucket") if r[1].startswith("TrailBucket")]
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["BucketKeyEnabled"]


def test_audit_key_admits_no_cloudtrail_where_the_install_has_no_trail(selfhosted: Assembly) -> None:
    assert not _resources(selfhosted, "acme", "AWS::CloudTrail::Trail")
    statements = _audit_key_policy(selfhosted, "acme")
    assert not [s for s in statements if "cloudtrail.amazonaws.com" in _service_principals(s)]


# --- 4. Alarms notify -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_incident_topic_admits_this_accounts_alarms_and_rules(operator: Assembly, env: str) -> None:
    account = operator.config.environment(env).account
    (policy,) = _resources(operator, env, "AWS::SNS::TopicPolicy")
    statements = _statements(policy["Properties"]["PolicyDocument"])
    (alarms,) = _allowed(statements, "cloudwatch.amazonaws.com", "sns:Publish")
    assert alarms["Condition"]["StringEquals"]["aws:SourceAccount"] == account
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:cloudwatch:eu-west-1:{account}:alarm:*"
    assert _allowed(statements, "events.amazonaws.com", "sns:Publish")

    key = _audit_key_policy(operator, env)
    for principal in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
        for action in ("kms:GenerateDataKey*", "kms:Decrypt"):
            assert _allowed(key, principal, action), f"{principal} cannot {action} the topic's key"
    (alarm_key,) = _allowed(key, "cloudwatch.amazonaws.com", "kms:Decrypt")
    assert alarm_key["Condition"]["StringEquals"]["aws:SourceAccount"] == account
    # EventBridge's KMS requests carry no source keys: at least one grant must not require them.
    assert any(
        not _condition_keys(s) & {"aws:SourceAccount", "aws:SourceArn"}
        for s in _allowed(key, "events.amazonaws.com", "kms:GenerateDataKey*")
    )


# --- 5. The WAF lets prompts through ----------------------------------------------------------------------------


def _web_acl(assembly: Assembly, env: str, purpose: str) -> dict[str, Any]:
    (acl,) = [a for a in _resources(assembly, env, "AWS::WAFv2::WebACL") if a["Properties"]["Name"].endswith(purpose)]
    properties: dict[str, Any] = acl["Properties"]
    return properties


def _overrides(acl: dict[str, Any]) -> dict[str, set[str]]:
    counted: dict[str, set[str]] = {}
    for rule in acl["Rules"]:
        group = rule["Statement"].get("ManagedRuleGroupStatement")
        if group:
            counted[group["Name"]] = {
                o["Name"] for o in group.get("RuleActionOverrides", []) if o["ActionToUse"] == {"Count": {}}
            }
    return counted


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_public_web_acl_counts_prompt_body_rules_and_blocks_declared_oversize_bodies(
    operator: Assembly, env: str
) -> None:
    acl = _web_acl(operator, env, "public")
    counted = _overrides(acl)
    assert counted["AWSManagedRulesCommonRuleSet"] == {"SizeRestrictions_BODY", "CrossSiteScripting_BODY"}
    assert counted["AWSManagedRulesSQLiRuleSet"] == {"SQLi_BODY", "SQLiExtendedPatterns_BODY"}
    # Every other managed rule keeps blocking: the groups themselves are not overridden.
    assert set(counted) >= {"AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"}
    assert not counted["AWSManagedRulesKnownBadInputsRuleSet"] and not counted["AWSManagedRulesAmazonIpReputationList"]
    for rule in acl["Rules"]:
        if "ManagedRuleGroupStatement" in rule["Statement"]:
            assert rule["OverrideAction"] == {"None": {}}
    (size,) = [r for r in acl["Rules"] if "RegexMatchStatement" in r["Statement"]]
    assert size["Action"] == {"Block": {}}
    statement = size["Statement"]["RegexMatchStatement"]
    assert statement["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}
    pattern = re.compile(statement["RegexString"])
    assert pattern.match(str(DEFAULT_SERVICE_MAX_BODY_BYTES + 1))
    assert not pattern.match(str(DEFAULT_SERVICE_MAX_BODY_BYTES)) and not pattern.match("8193")


def test_support_web_acl_keeps_the_body_rules_blocking(operator: Assembly) -> None:
    acl = _web_acl(operator, "prod", "support")
    assert not any(_overrides(acl).values())


@pytest.mark.parametrize("limit", [1, 9, 10, 999, 8192, 1_048_576, 67_108_864])
def test_content_length_over_limit_matches_exactly_the_larger_numbers(limit: int) -> None:
    from stacks.constructs.web_acl import content_length_over  # imported here: absent before the fix

    pattern = re.compile(content_length_over(limit))
    around = {0, 1, limit - 1, limit, limit + 1, limit * 10, limit * 10 - 1, 10 ** len(str(limit))}
    for number in sorted(n for n in around | set(range(max(0, limit - 120), limit + 120)) if n >= 0):
        assert bool(pattern.match(str(number))) == (number > limit), number
    assert len(content_length_over(limit)) <= 200  # WAF's limit on a regex string


# --- 6, 9. Writable /tmp and ECS Exec agent paths ---------------------------------------------------------------


def _dockerfile_instructions() -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_declares_tmp_and_exec_agent_paths_as_volumes_owned_for_their_writers() -> None:
    instructions = _dockerfile_instructions()
    (volume,) = [line for line in instructions if line.startswith("VOLUME")]
    declared = set(json.loads(volume.split(None, 1)[1]))
    assert declared == {"/tmp", "/var/lib/amazon", "/var/log/amazon"}
    runs = " && ".join(line for line in instructions if line.startswith("RUN"))
    assert "chown 10001:10001 /tmp" in runs and "chmod 1777 /tmp" in runs
    assert "mkdir -p /var/lib/amazon /var/log/amazon" in runs
    # A VOLUME freezes its path: what later RUN steps write there is discarded, so it comes after them.
    last_run = max(i for i, line in enumerate(instructions) if line.startswith("RUN"))
    assert instructions.index(volume) > last_run


def _mounts(task: dict[str, Any]) -> dict[str, bool]:
    (container,) = task["Properties"]["ContainerDefinitions"]
    volumes = {v["Name"] for v in task["Properties"].get("Volumes", [])}
    mounts = {}
    for mount in container.get("MountPoints", []):
        assert mount["SourceVolume"] in volumes
        mounts[mount["ContainerPath"]] = not mount["ReadOnly"]
    return mounts


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_tasks_mount_exec_agent_paths_writable_only_where_exec_is_on(operator: Assembly, env: str) -> None:
    exec_on = operator.config.environment(env).ecs_exec
    tasks = [
        (lid, task)
        for _, lid, task in operator.resources(env, "AWS::ECS::TaskDefinition")
        if lid.startswith(("DataService", "SupportService"))
    ]
    assert len(tasks) == 2
    for logical_id, task in tasks:
        (container,) = task["Properties"]["ContainerDefinitions"]
        assert container["ReadonlyRootFilesystem"] is True
        mounts = _mounts(task)
        assert mounts.get("/tmp") is True, logical_id
        for path in ("/var/lib/amazon", "/var/log/amazon"):
            assert mounts.get(path, False) is exec_on, f"{logical_id} {path}"
    assert exec_on is (env != "prod")


# --- 7. The image is built for the tasks' platform --------------------------------------------------------------


def test_runtime_image_asset_is_built_for_x86_64(operator: Assembly) -> None:
    manifests = list(Path(operator.outcome.outdir).glob("assembly-*/*.assets.json"))
    images = [
        image["source"]
        for manifest in manifests
        for image in json.loads(manifest.read_text()).get("dockerImages", {}).values()
    ]
    assert images
    assert {image.get("platform") for image in images} == {"linux/amd64"}
    for _, logical_id, task in operator.resources("dev", "AWS::ECS::TaskDefinition"):
        if logical_id.startswith(("DataService", "SupportService")):
            assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"


# --- 10. GuardDuty / Security Hub that the account already has --------------------------------------------------


def _finding_rules(assembly: Assembly, env: str) -> dict[str, dict[str, Any]]:
    rules = {}
    for rule in _resources(assembly, env, "AWS::Events::Rule"):
        source = rule["Properties"].get("EventPattern", {}).get("source", [])  # schedules have no pattern
        if source in (["aws.guardduty"], ["aws.securityhub"]):
            rules[source[0]] = rule["Properties"]
    return rules


def test_existing_guardduty_and_securityhub_create_nothing_and_still_notify(selfhosted: Assembly) -> None:
    config = selfhosted.config.environment("acme")
    assert (config.guardduty, config.securityhub) == ("existing", "existing")
    assert not _resources(selfhosted, "acme", "AWS::GuardDuty::Detector")
    assert not _resources(selfhosted, "acme", "AWS::SecurityHub::Hub")
    rules = _finding_rules(selfhosted, "acme")
    assert set(rules) == {"aws.guardduty", "aws.securityhub"}
    for rule in rules.values():
        assert "IncidentTopic" in json.dumps(rule["Targets"])


def test_created_guardduty_and_securityhub_notify_and_off_adds_nothing(operator: Assembly) -> None:
    assert len(_resources(operator, "prod", "AWS::GuardDuty::Detector")) == 1
    assert len(_resources(operator, "prod", "AWS::SecurityHub::Hub")) == 1
    assert set(_finding_rules(operator, "prod")) == {"aws.guardduty", "aws.securityhub"}
    assert operator.config.environment("dev").guardduty == "off"
    assert not _resources(operator, "dev", "AWS::GuardDuty::Detector") and not _finding_rules(operator, "dev")


def test_config_account_service_mode_accepts_the_former_booleans_and_refuses_others() -> None:
    config = load_config(OPERATOR_CONFIG, overrides={"prod.guardduty": True, "prod.securityhub": False})
    assert (config.environment("prod").guardduty, config.environment("prod").securityhub) == ("create", "off")
    assert load_config(OPERATOR_CONFIG, overrides={"qa.guardduty": "existing"}).environment("qa").guardduty == (
        "existing"
    )
    with pytest.raises(ConfigError, match=r"environments\.prod\.guardduty: 'sometimes' must be \"create\""):
        load_config(OPERATOR_CONFIG, overrides={"prod.guardduty": "sometimes"})


# --- 11. Endpoints of every AWS API the tasks call --------------------------------------------------------------


def _endpoint_services(assembly: Assembly, env: str) -> set[str]:
    return {
        str(endpoint["Properties"]["ServiceName"]).removeprefix("com.amazonaws.eu-west-1.")
        for endpoint in _resources(assembly, env, "AWS::EC2::VPCEndpoint")
        if isinstance(endpoint["Properties"]["ServiceName"], str)
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_has_endpoints_for_notifications_restore_and_exec(operator: Assembly, env: str) -> None:
    config = operator.config.environment(env)
    services = _endpoint_services(operator, env)
    assert {"sns", "email", "rds", "kms", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "sts"} <= services
    assert ("ssmmessages" in services) is config.ecs_exec
    (network,) = [t for name, t in operator.env_templates(env).items() if name.endswith("-network")]
    listed = set(network["Outputs"]["RequiredAwsServices"]["Value"].split())
    assert listed == {f"com.amazonaws.eu-west-1.{s}" for s in services} | {"com.amazonaws.eu-west-1.s3"}


def test_existing_vpc_gets_no_endpoints_and_the_list_it_must_provide(selfhosted: Assembly) -> None:
    assert not _resources(selfhosted, "acme", "AWS::EC2::VPCEndpoint")
    network = selfhosted.env_templates("acme")["adp-acme-network"]
    output = network["Outputs"]["RequiredAwsServices"]
    listed = output["Value"].split()
    for service in ("kms", "secretsmanager", "ecr.api", "ecr.dkr", "logs", "sts", "sns", "email", "rds", "s3"):
        assert f"com.amazonaws.us-east-1.{service}" in listed
    assert "com.amazonaws.us-east-1.ssmmessages" not in listed  # ECS Exec is off there
    assert "existing VPC" in output["Description"]
    readme = (ROOT / "config" / "README.md").read_text()
    assert "RequiredAwsServices" in readme


# --- 12. Account-scoped names carry app and environment; the VPN resolves the VPC's names -----------------------


def _names(assembly: Assembly, env: str) -> Iterator[tuple[str, str]]:
    for acl in _resources(assembly, env, "AWS::WAFv2::WebACL"):
        yield "web ACL", acl["Properties"]["Name"]
    for trail in _resources(assembly, env, "AWS::CloudTrail::Trail"):
        yield "trail", trail["Properties"]["TrailName"]
    for group in _resources(assembly, env, "AWS::Logs::LogGroup"):
        name = group["Properties"].get("LogGroupName")
        if isinstance(name, str) and name.startswith("aws-waf-logs-"):
            yield "WAF log group", name.removeprefix("aws-waf-logs-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_account_scoped_names_carry_app_and_environment(operator: Assembly, env: str) -> None:
    names = list(_names(operator, env))
    assert {kind for kind, _ in names} == {"web ACL", "trail", "WAF log group"}
    for kind, name in names:
        assert name.startswith(f"{operator.config.app_name}-{env}"), f"{kind} {name}"
    assert len({name for kind, name in names if kind == "web ACL"}) == 2


@pytest.mark.parametrize(("assembly_name", "env"), [("operator", "dev"), ("operator", "prod"), ("selfhosted", "acme")])
def test_support_vpn_resolves_names_with_the_vpc_resolver(
    request: pytest.FixtureRequest, assembly_name: str, env: str
) -> None:
    assembly: Assembly = request.getfixturevalue(assembly_name)
    cidr = assembly.config.environment(env).vpc_cidr
    (endpoint,) = _resources(assembly, env, "AWS::EC2::ClientVpnEndpoint")
    assert endpoint["Properties"]["DnsServers"] == [str(ipaddress.IPv4Network(cidr).network_address + 2)]
    assert not any(isinstance(node, str) and node == "0.0.0.0/0" for node in walk(endpoint))


@pytest.mark.parametrize(("assembly_name", "env"), [("operator", "dev"), ("operator", "prod"), ("selfhosted", "acme")])
def test_support_vpn_authorizes_its_dns_server_and_the_support_tier_only(
    request: pytest.FixtureRequest, assembly_name: str, env: str
) -> None:
    # Client VPN authorizes DNS like any traffic: without a rule for the resolver, staff cannot resolve the
    # support load balancer's name. The rule is the resolver's /32, nothing wider.
    assembly: Assembly = request.getfixturevalue(assembly_name)
    resolver = str(ipaddress.IPv4Network(assembly.config.environment(env).vpc_cidr).network_address + 2)
    targets = [r["Properties"]["TargetNetworkCidr"] for r in _resources(assembly, env,
                                                                        "AWS::EC2::ClientVpnAuthorizationRule")]
    assert f"{resolver}/32" in targets
    assert all(t == f"{resolver}/32" or not str(t).endswith("/32") for t in targets)


@pytest.mark.parametrize(("assembly_name", "env"), [("operator", "dev"), ("operator", "prod"), ("selfhosted", "acme")])
def test_buckets_no_global_name_another_account_could_claim(
    request: pytest.FixtureRequest, assembly_name: str, env: str
) -> None:
    # A bucket named in the global namespace can be created first by anyone (squatted): the deploy then fails,
    # or writes go to a stranger's bucket. Named buckets live in S3's account-regional namespace instead.
    assembly: Assembly = request.getfixturevalue(assembly_name)
    buckets = [r["Properties"] for r in _resources(assembly, env, "AWS::S3::Bucket")]
    assert buckets and not [b for b in buckets if "BucketName" in b]
    named = [b for b in buckets if "BucketNamePrefix" in b]
    assert named and all(b["BucketNamespace"] == "account-regional" for b in named)
    config = assembly.config.environment(env)
    job = [t for t in _resources(assembly, env, "AWS::ECS::TaskDefinition")
           if "PLATFORM_EXPORTS_BUCKET" in json.dumps(t)]
    expected = f"{named[0]['BucketNamePrefix']}-{config.account}-{config.region}-an"
    assert job and all(expected in json.dumps(t) for t in job)  # the job writes to the bucket CloudFormation names


@pytest.mark.parametrize(("assembly_name", "env"), [("operator", "dev"), ("selfhosted", "acme")])
def test_tasks_database_port_follows_the_cluster_endpoint(
    request: pytest.FixtureRequest, assembly_name: str, env: str
) -> None:
    # A literal port breaks every task the day the cluster listens elsewhere; the endpoint's Port is the truth.
    assembly: Assembly = request.getfixturevalue(assembly_name)
    ports = [e["Value"] for t in _resources(assembly, env, "AWS::ECS::TaskDefinition")
             for c in t["Properties"]["ContainerDefinitions"] for e in c.get("Environment", [])
             if e["Name"] == "PLATFORM_DATABASE_PORT"]
    assert len(ports) >= 6  # data, support, job, drill, restore, setup
    assert all(not isinstance(p, str) and "EndpointPort" in json.dumps(p) for p in ports)
