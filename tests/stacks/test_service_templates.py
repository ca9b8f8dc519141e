"""Services behind TLS, support VPN, export bucket, audit and alarms, self-hosted HIPAA install (issue #6)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest

from runtime import settings
from runtime.routes import API_PATH_PATTERNS
from stacks.constructs.web_acl import REDACTED_HEADERS
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import statements, walk

ENVIRONMENTS = ("dev", "qa", "prod")
TLS12_PLUS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
}
SECRET_LOOKING_NAME = re.compile(r"PASSWORD|SECRET(?!_ID)|TOKEN|PRIVATE|CREDENTIAL", re.IGNORECASE)
SECRET_LOOKING_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN|eyJ[\w-]{10,}\.)")


def _all(assembly: Assembly, env: str, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [(logical_id, r) for _, logical_id, r in assembly.resources(env, resource_type)]


def _env_names(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container.get("Environment", [])}


def _task_environment(assembly: Assembly, env: str, mode: str) -> dict[str, Any]:
    """The container variables of the one task definition that runs in `mode` (owner, support, job: the lifecycle
    job, which declares `export`; the drill and restore tasks run in job mode too)."""
    (found,) = [
        variables
        for _, task in _all(assembly, env, "AWS::ECS::TaskDefinition")
        for variables in map(_env_names, task["Properties"]["ContainerDefinitions"])
        if variables[settings.SERVICE_MODE] == mode
        and (mode != "job" or "export" in variables[settings.TASK_COMMANDS].split(","))
    ]
    return found


def _load_balancer_id(assembly: Assembly, env: str, scheme: str) -> str:
    (found,) = [
        lid
        for lid, alb in _all(assembly, env, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        if alb["Properties"]["Scheme"] == scheme
    ]
    return found


def _https_listener(assembly: Assembly, env: str, scheme: str) -> dict[str, Any]:
    """The HTTPS listener's properties (with its logical id as `_id`) of the load balancer of `scheme`."""
    alb_id = _load_balancer_id(assembly, env, scheme)
    (found,) = [
        {**listener["Properties"], "_id": lid}
        for lid, listener in _all(assembly, env, "AWS::ElasticLoadBalancingV2::Listener")
        if listener["Properties"]["LoadBalancerArn"] == {"Ref": alb_id}
        and listener["Properties"]["Protocol"] == "HTTPS"
    ]
    return found


@pytest.fixture(scope="module", params=["operator", "selfhosted"])
def each_install(request: pytest.FixtureRequest) -> list[tuple[Assembly, str]]:
    assembly: Assembly = request.getfixturevalue(request.param)
    return [(assembly, env) for env in assembly.templates]


def test_listeners_are_https_with_tls12_plus_or_redirect_only(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        listeners = _all(assembly, env, "AWS::ElasticLoadBalancingV2::Listener")
        assert len(listeners) == 3  # public 443 + 80 redirect, support 443
        for logical_id, listener in listeners:
            props = listener["Properties"]
            if props["Protocol"] == "HTTPS":
                assert props["SslPolicy"] in TLS12_PLUS_POLICIES, logical_id
                assert props["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm:")
            else:
                (action,) = props["DefaultActions"]
                assert action["Type"] == "redirect", f"{env}/{logical_id} serves plain HTTP"
                assert action["RedirectConfig"]["Protocol"] == "HTTPS"


def test_load_balancers_drop_invalid_headers_log_and_are_protected(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        albs = _all(operator, env, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        assert {r["Properties"]["Scheme"] for _, r in albs} == {"internet-facing", "internal"}
        for _, alb in albs:
            attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
            assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
            assert attributes["access_logs.s3.enabled"] == "true"
            assert attributes["deletion_protection.enabled"] == "true"
        associations = _all(operator, env, "AWS::WAFv2::WebACLAssociation")
        assert len(associations) == 2
        for _, acl in _all(operator, env, "AWS::WAFv2::WebACL"):
            groups = {
                r["Statement"]["ManagedRuleGroupStatement"]["Name"]
                for r in acl["Properties"]["Rules"]
                if "ManagedRuleGroupStatement" in r["Statement"]
            }
            assert "AWSManagedRulesCommonRuleSet" in groups and "AWSManagedRulesKnownBadInputsRuleSet" in groups
        for _, logging in _all(operator, env, "AWS::WAFv2::LoggingConfiguration"):
            redacted = {f["SingleHeader"]["Name"] for f in logging["Properties"]["RedactedFields"]}
            assert redacted == set(REDACTED_HEADERS)


def test_oidc_at_the_load_balancer_only_where_configured(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        for scheme, sign_in in (("internet-facing", config.user_sign_in), ("internal", config.staff_sign_in)):
            actions = [action["Type"] for action in _https_listener(assembly, env, scheme)["DefaultActions"]]
            assert ("authenticate-oidc" in actions) == (sign_in is not None), f"{env} {scheme}"
            if sign_in is not None:  # a reference to the client secret, never the secret
                assert f"{{{{resolve:secretsmanager:{sign_in.client_secret_name}:" in json.dumps(
                    assembly.templates[env]
                )


def test_tasks_have_no_plaintext_secrets_public_ip_or_writable_root(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        task_definitions = _all(assembly, env, "AWS::ECS::TaskDefinition")
        # data service, support service, audit sequencer, lifecycle job, breach drill, restore, database setup
        assert len(task_definitions) == 7
        expected_secrets = {
            "DataService": {settings.AUDIT_CHAIN_KEY},
            "SupportService": {settings.AUDIT_CHAIN_KEY},
            "AuditSequencer": set(),  # it signs with KMS; the HMAC chain key is not needed past the cut-over
            "LifecycleJob": {settings.AUDIT_CHAIN_KEY, settings.ERASURE_RECEIPT_KEY},
            "BreachDrill": {settings.AUDIT_CHAIN_KEY},
            "Restore": set(),
            "DatabaseSetup": set(),  # the master secret is read at run time by ARN, never an ECS secret
        }
        for logical_id, task in task_definitions:
            for container in task["Properties"]["ContainerDefinitions"]:
                for name, value in _env_names(container).items():
                    assert not SECRET_LOOKING_NAME.search(name), f"{env}/{logical_id}: {name}"
                    assert not SECRET_LOOKING_VALUE.search(json.dumps(value)), f"{env}/{logical_id}: {name}"
                secrets = {s["Name"] for s in container.get("Secrets", [])}
                (unit,) = [u for u in expected_secrets if logical_id.startswith(u)]
                assert secrets == expected_secrets[unit], f"{env}/{logical_id}"
                assert container["ReadonlyRootFilesystem"] is True
                assert container["User"] == "10001"
        for _, service in _all(assembly, env, "AWS::ECS::Service"):
            assert service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_cluster_encrypts_task_storage_and_exec_sessions(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        ((_, cluster),) = _all(operator, env, "AWS::ECS::Cluster")
        configuration = cluster["Properties"]["Configuration"]
        assert "FargateEphemeralStorageKmsKeyId" in configuration["ManagedStorageConfiguration"]
        insights = {s["Name"]: s["Value"] for s in cluster["Properties"]["ClusterSettings"]}
        assert insights["containerInsights"] == "enabled"
        exec_enabled = operator.config.environment(env).ecs_exec
        if exec_enabled:
            exec_config = configuration["ExecuteCommandConfiguration"]
            assert exec_config["KmsKeyId"] and exec_config["Logging"] == "OVERRIDE"
            assert exec_config["LogConfiguration"]["CloudWatchEncryptionEnabled"] is True
        else:
            assert "ExecuteCommandConfiguration" not in configuration


def test_task_roles_are_least_privilege(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        policies = {lid: r for lid, r in _all(operator, env, "AWS::IAM::ManagedPolicy")}
        data_policy = next(r for lid, r in policies.items() if lid.startswith("DataTaskRolePolicy"))
        support_policy = next(r for lid, r in policies.items() if lid.startswith("SupportTaskRolePolicy"))
        # The application key's statement, and (per-organisation keys: tests/stacks/test_organisation_key_templates.py)
        # the organisation keys' and the organisations' own keys' (BYOK), and the exports key's through S3 (the
        # admin's downloads: test_data_service_presigns_exports_get_object_and_decrypt_through_s3_only).
        kms_statements = [s for s in statements(data_policy) if "kms:Decrypt" in s["Action"] and s.get("Sid") not in (
            "OrganisationDataKeysOfThisEnvironmentOnly", "CustomerKeysDataKeysWithThisEnvironmentsContextOnly",
            "ExportsKeyDecryptThroughS3Only")]
        (kms,) = kms_statements
        assert kms["Condition"]["StringEquals"]["kms:EncryptionContext:environment"] == env
        assert "ApplicationKey" in json.dumps(kms["Resource"])
        connect = [s for s in statements(data_policy) if s["Action"] == "rds-db:connect"]
        assert len(connect) == 1 and json.dumps(connect[0]["Resource"]).endswith('"/platform_app"]]}')
        # The support role never touches the application key (it serves NOT_SENSITIVE data only, P4).
        assert all("kms:" not in json.dumps(s["Action"]) for s in statements(support_policy))


def test_vpn_reaches_only_the_support_tier(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        ((_, endpoint),) = _all(assembly, env, "AWS::EC2::ClientVpnEndpoint")
        props = endpoint["Properties"]
        assert props["SplitTunnel"] is True
        assert props["ConnectionLogOptions"]["Enabled"] is True
        auth_types = {option["Type"] for option in props["AuthenticationOptions"]}
        assert auth_types == ({"federated-authentication"} if config.vpn_uses_saml else {"certificate-authentication"})

        support_cidrs = _support_cidrs(assembly, env)
        rules = [r["Properties"] for _, r in _all(assembly, env, "AWS::EC2::ClientVpnAuthorizationRule")]
        # The support subnets, and the VPN's DNS server (the VPC's resolver) so staff resolve the support host.
        resolver = f"{ipaddress.ip_network(config.vpc_cidr).network_address + 2}/32"
        assert sorted(r["TargetNetworkCidr"] for r in rules) == sorted([*support_cidrs, resolver])
        for rule in rules:
            if config.vpn_uses_saml:
                assert rule["AccessGroupId"] == config.vpn_support_group_id and not rule.get("AuthorizeAllGroups")
        vpc = ipaddress.ip_network(config.vpc_cidr)
        assert all(ipaddress.ip_network(r["TargetNetworkCidr"]) != vpc for r in rules)

        (vpn_sg_id, vpn_sg) = next(
            (lid, r) for lid, r in _all(assembly, env, "AWS::EC2::SecurityGroup") if lid.startswith("VpnSecurityGroup")
        )
        egress = vpn_sg["Properties"]["SecurityGroupEgress"]
        assert sorted(e["CidrIp"] for e in egress) == sorted(support_cidrs)
        assert all(e["FromPort"] == e["ToPort"] == 443 for e in egress)
        _assert_vpn_sg_only_reaches_the_support_alb(assembly, env, vpn_sg_id)


def _support_cidrs(assembly: Assembly, env: str) -> list[str]:
    config = assembly.config.environment(env)
    if config.uses_existing_vpc:
        return list(config.existing_support_subnet_cidrs)
    network = assembly.env_templates(env)[f"adp-{env}-network"]["Resources"]
    return [
        r["Properties"]["CidrBlock"]
        for r in network.values()
        if r["Type"] == "AWS::EC2::Subnet"
        and {t["Key"]: t["Value"] for t in r["Properties"]["Tags"]}["aws-cdk:subnet-name"] == "support"
    ]


def _assert_vpn_sg_only_reaches_the_support_alb(assembly: Assembly, env: str, vpn_sg_id: str) -> None:
    """Every security-group rule that names the VPN's group admits it to the support ALB on 443 only."""
    found = []
    for stack_name, template in assembly.env_templates(env).items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::EC2::SecurityGroupIngress" and vpn_sg_id in json.dumps(resource):
                props = resource["Properties"]
                assert "SupportAlbSecurityGroup" in json.dumps(props["GroupId"]), f"{stack_name}/{logical_id}"
                assert props["FromPort"] == props["ToPort"] == 443
                found.append(logical_id)
            if resource["Type"] == "AWS::EC2::SecurityGroup" and not logical_id.startswith("VpnSecurityGroup"):
                for rule in resource["Properties"].get("SecurityGroupIngress", []):
                    assert vpn_sg_id not in json.dumps(rule), f"{stack_name}/{logical_id}"
    assert len(found) == 1


def test_support_alb_admits_only_the_vpn(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        alb_sg = next(
            r for lid, r in _all(operator, env, "AWS::EC2::SecurityGroup") if lid.startswith("SupportAlbSecurityGroup")
        )
        assert not alb_sg["Properties"].get("SecurityGroupIngress")  # no CIDR rules
        ingress = [
            r["Properties"]
            for _, r in _all(operator, env, "AWS::EC2::SecurityGroupIngress")
            if "SupportAlbSecurityGroup" in json.dumps(r["Properties"]["GroupId"])
        ]
        assert len(ingress) == 1 and "VpnSecurityGroup" in json.dumps(ingress[0]["SourceSecurityGroupId"])


def test_export_bucket_is_private_tls_only_expiring_written_by_the_job_only(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        config = operator.config.environment(env)
        buckets = {lid: r for lid, r in _all(operator, env, "AWS::S3::Bucket")}
        exports = next(r["Properties"] for lid, r in buckets.items() if lid.startswith("Exports"))
        assert exports["VersioningConfiguration"]["Status"] == "Enabled"
        block = exports["PublicAccessBlockConfiguration"]
        assert all(
            block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        )
        sse = exports["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and sse["BucketKeyEnabled"] is True
        (rule,) = exports["LifecycleConfiguration"]["Rules"]
        assert rule["ExpirationInDays"] == config.export_expiry_days
        assert "LoggingConfiguration" in exports

        policy = next(
            r
            for _, r in _all(operator, env, "AWS::S3::BucketPolicy")
            if "Exports" in json.dumps(r["Properties"]["Bucket"])
        )
        denies = [s for s in statements(policy) if s["Effect"] == "Deny"]
        assert any(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false" for s in denies)
        by_principal = {json.dumps(s["Condition"]["StringNotEquals"]["aws:PrincipalArn"]): s for s in denies
                        if "aws:PrincipalArn" in json.dumps(s.get("Condition", {}))}
        job, data = f"arn:aws:iam::{config.account}:role/adp-{env}-lifecycle-job", f"adp-{env}-data-service"
        writes = by_principal[json.dumps(job)]  # only the job writes, overwrites or deletes (P10, P13)
        assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion"} <= set(
            writes["Action"]) and "s3:GetObject" not in writes["Action"]
        reads = by_principal[json.dumps([job, f"arn:aws:iam::{config.account}:role/{data}"])]
        assert reads["Action"] == "s3:GetObject"  # the job, and the data service's presigned URLs (P13)
        assert len(by_principal) == 2


def test_data_service_presigns_exports_get_object_and_decrypt_through_s3_only(operator: Assembly) -> None:
    """The admin's download URLs act with the data service's role (P13): it names the exports bucket, may read its
    objects and nothing else there, and use the exports key through S3 only, to decrypt only."""
    for env in ENVIRONMENTS:
        config = operator.config.environment(env)
        bucket = f"adp-{env}-exports-{config.account}-{config.region}-an"
        assert _task_environment(operator, env, "owner")[settings.EXPORTS_BUCKET] == bucket
        roles = {lid: r for lid, r in _all(operator, env, "AWS::IAM::Role") if lid.startswith("DataTaskRole")}
        ((_, role),) = roles.items()
        assert role["Properties"]["RoleName"] == f"adp-{env}-data-service"
        ((_, policy),) = [(lid, r) for lid, r in _all(operator, env, "AWS::IAM::ManagedPolicy")
                          if lid.startswith("DataTaskRolePolicy")]
        found = statements(policy)
        on_exports = [s for s in found if bucket in json.dumps(s["Resource"])]
        assert on_exports == [{"Action": "s3:GetObject", "Effect": "Allow", "Resource": f"arn:aws:s3:::{bucket}/*",
                               "Sid": "ReadAndPresignExports"}]
        (decrypt,) = [s for s in found if s.get("Sid") == "ExportsKeyDecryptThroughS3Only"]
        assert decrypt["Action"] == "kms:Decrypt" and "ExportsKey" in json.dumps(decrypt["Resource"])
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}}


def test_every_bucket_denies_plaintext(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        buckets = [lid for lid, _ in _all(assembly, env, "AWS::S3::Bucket")]
        policies = _all(assembly, env, "AWS::S3::BucketPolicy")
        assert len(policies) == len(buckets)
        for _, policy in policies:
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in statements(policy)
            )


def test_audit_trail_topic_and_alarms(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        config = operator.config.environment(env)
        ((_, trail),) = _all(operator, env, "AWS::CloudTrail::Trail")
        props = trail["Properties"]
        assert props["EnableLogFileValidation"] is True and props["IsMultiRegionTrail"] is True
        data_resources = json.dumps(props["EventSelectors"])
        assert "AWS::S3::Object" in data_resources and "Exports" in data_resources
        ((_, topic),) = _all(operator, env, "AWS::SNS::Topic")
        assert "AuditKey" in json.dumps(topic["Properties"]["KmsMasterKeyId"])
        rules = {lid: r for lid, r in _all(operator, env, "AWS::Events::Rule")}
        for detection in ("KmsKeyDisabled", "RootAccountUsed", "UnauthorizedApiCall", "ConsoleSignInWithoutMfa"):
            rule = next(r for lid, r in rules.items() if lid.startswith(detection))
            assert "IncidentTopic" in json.dumps(rule["Properties"]["Targets"])
        alarms = [r["Properties"] for _, r in _all(operator, env, "AWS::CloudWatch::Alarm")]
        assert {a["MetricName"] for a in alarms} == {"AuthenticationFailures", "BlockedRequests"}
        assert all("IncidentTopic" in json.dumps(a["AlarmActions"]) for a in alarms)
        ((_, metric_filter),) = _all(operator, env, "AWS::Logs::MetricFilter")
        assert "password authentication failed" in metric_filter["Properties"]["FilterPattern"]
        assert bool(_all(operator, env, "AWS::GuardDuty::Detector")) == (config.guardduty == "create")
        assert bool(_all(operator, env, "AWS::SecurityHub::Hub")) == (config.securityhub == "create")


def test_selfhosted_hipaa_encrypts_inside_the_vpc(selfhosted: Assembly) -> None:
    target_groups = _all(selfhosted, "acme", "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(target_groups) == 2
    for _, group in target_groups:
        assert group["Properties"]["Protocol"] == "HTTPS" and group["Properties"]["HealthCheckProtocol"] == "HTTPS"
    for _, task in _all(selfhosted, "acme", "AWS::ECS::TaskDefinition"):
        (container,) = task["Properties"]["ContainerDefinitions"]
        env = _env_names(container)
        assert env[settings.SERVICE_TLS] == "true" and env[settings.DATABASE_IAM_AUTH] == "true"


def test_selfhosted_uses_the_customers_vpc_image_and_key(selfhosted: Assembly) -> None:
    config = selfhosted.config.environment("acme")
    templates = selfhosted.env_templates("acme")
    assert not _all(selfhosted, "acme", "AWS::EC2::VPC") and not _all(selfhosted, "acme", "AWS::EC2::Subnet")
    text = json.dumps(templates)
    assert config.existing_vpc_id is not None and config.existing_vpc_id in text
    assert "adp-runtime" in text and "cdk-hnb659fds-container-assets" not in text
    database_key_arn = config.existing_keys["database"]
    (_, _, cluster) = next(selfhosted.resources("acme", "AWS::RDS::DBCluster"))
    assert database_key_arn in json.dumps(cluster["Properties"]["KmsKeyId"])
    aliases = {r["Properties"]["AliasName"] for _, r in _all(selfhosted, "acme", "AWS::KMS::Alias")}
    assert "alias/adp/acme/database" not in aliases and "alias/adp/acme/application" in aliases
    assert not _all(selfhosted, "acme", "AWS::CloudTrail::Trail")  # an organisation trail covers it


def test_no_resource_names_another_environments_account(operator: Assembly) -> None:
    accounts = {env.name: env.account for env in operator.config.environments}
    for env in ENVIRONMENTS:
        for node in walk(operator.env_templates(env)):
            if isinstance(node, str):
                for other, account in accounts.items():
                    if other != env:
                        assert account not in node


# --- Issue 12: staff identity for support (P4), IdP keys by URL, qa's ALB OIDC; issue 14 item 12: readiness ---


def test_support_task_in_every_environment_gets_the_staff_idp_not_the_users(
    each_install: list[tuple[Assembly, str]],
) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        data = _task_environment(assembly, env, "owner")
        support = _task_environment(assembly, env, "support")
        identity = (settings.JWT_ISSUER, settings.JWT_AUDIENCE)
        keys = (settings.JWT_JWKS_URL, settings.JWT_JWKS)
        assert [support.get(name) for name in identity] != [data[name] for name in identity], env
        assert [support.get(name) for name in keys] != [data.get(name) for name in keys], env
        assert support[settings.AUTH_STAFF_CLAIM] == config.support_staff_claim
        assert support[settings.AUTH_STAFF_ROLE] == config.support_staff_role
        assert settings.AUTH_STAFF_CLAIM not in data and settings.AUTH_STAFF_ROLE not in data
        staff = config.staff_tokens
        if staff is None:  # staff sign in at the support load balancer: its signed header, nothing else
            assert support[settings.AUTH_MODE] == settings.AUTH_MODE_ALB_OIDC
            assert support[settings.ALB_SIGNER_ARN] == {"Ref": _load_balancer_id(assembly, env, "internal")}
            assert not set(identity + keys) & set(support)
        else:
            assert support[settings.AUTH_MODE] == settings.AUTH_MODE_BEARER_JWT
            assert (support[settings.JWT_ISSUER], support[settings.JWT_AUDIENCE]) == (staff.issuer, staff.audience)
            assert settings.ALB_SIGNER_ARN not in support


def test_data_task_with_alb_oidc_gets_users_idp_in_mixed_mode(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        data = _task_environment(assembly, env, "owner")
        assert (data[settings.JWT_ISSUER], data[settings.JWT_AUDIENCE]) == (config.jwt_issuer, config.jwt_audience)
        if config.user_sign_in is None:
            assert data[settings.AUTH_MODE] == settings.AUTH_MODE_BEARER_JWT and settings.ALB_SIGNER_ARN not in data
        else:
            assert data[settings.AUTH_MODE] == settings.AUTH_MODE_ALB_OIDC_OR_BEARER_JWT
            assert data[settings.ALB_SIGNER_ARN] == {"Ref": _load_balancer_id(assembly, env, "internet-facing")}


def test_task_definitions_with_jwks_url_bake_no_jwks(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        for mode, tokens in (("owner", config.user_tokens), ("support", config.staff_tokens)):
            variables = _task_environment(assembly, env, mode)
            if tokens is None:
                continue
            if tokens.jwks_url:
                assert variables[settings.JWT_JWKS_URL] == tokens.jwks_url and settings.JWT_JWKS not in variables
            else:  # air-gapped: the file's public keys, and no URL
                assert json.loads(variables[settings.JWT_JWKS])["keys"] and settings.JWT_JWKS_URL not in variables
        if config.jwt_jwks_url and (config.staff_tokens is None or config.support_jwt_jwks_url):
            text = json.dumps(assembly.templates[env])
            assert json.dumps(settings.JWT_JWKS) not in text and '"kty' not in text, f"{env} bakes a JWKS"


def test_operator_tasks_with_url_config_fetch_keys_over_https(operator: Assembly) -> None:
    for env in ENVIRONMENTS:
        for mode in ("owner", "support"):
            url = _task_environment(operator, env, mode)[settings.JWT_JWKS_URL]
            assert url.startswith("https://"), f"{env} {mode}"


def test_lifecycle_job_serving_no_requests_gets_no_identity_settings(each_install: list[tuple[Assembly, str]]) -> None:
    auth = {settings.AUTH_MODE, settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_JWKS, settings.JWT_JWKS_URL}
    for assembly, env in each_install:
        assert not auth & set(_task_environment(assembly, env, "job")), env


def test_public_listener_with_oidc_forwards_api_paths_without_sign_in(operator: Assembly) -> None:
    listener = _https_listener(operator, "qa", "internet-facing")
    default = sorted(listener["DefaultActions"], key=lambda action: action["Order"])
    assert [action["Type"] for action in default] == ["authenticate-oidc", "forward"]
    assert default[0]["AuthenticateOidcConfig"].get("OnUnauthenticatedRequest", "authenticate") == "authenticate"
    rules = [
        r["Properties"]
        for _, r in _all(operator, "qa", "AWS::ElasticLoadBalancingV2::ListenerRule")
        if r["Properties"]["ListenerArn"] == {"Ref": listener["_id"]}
    ]
    (api,) = rules
    ((condition,),) = [api["Conditions"]]
    assert condition["Field"] == "path-pattern"
    assert sorted(condition["PathPatternConfig"]["Values"]) == sorted(API_PATH_PATTERNS)
    assert {"/v1/*", "/healthz", "/readyz", "/openapi.json"} == set(API_PATH_PATTERNS)
    (forward,) = api["Actions"]  # straight to the service: no authenticate-oidc, so no login redirect
    assert forward["Type"] == "forward" and forward["TargetGroupArn"] == default[1]["TargetGroupArn"]


def test_listeners_without_oidc_have_no_rules(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        if assembly.config.environment(env).user_sign_in is None:
            assert not _all(assembly, env, "AWS::ElasticLoadBalancingV2::ListenerRule"), env


def test_support_listener_with_staff_oidc_signs_in_and_reaches_the_idp(selfhosted: Assembly) -> None:
    config = selfhosted.config.environment("acme")
    sign_in = config.staff_sign_in
    assert sign_in is not None
    listener = _https_listener(selfhosted, "acme", "internal")
    authenticate, forward = sorted(listener["DefaultActions"], key=lambda action: action["Order"])
    oidc = authenticate["AuthenticateOidcConfig"]
    assert (oidc["Issuer"], oidc["ClientId"], oidc["TokenEndpoint"]) == (
        sign_in.issuer,
        sign_in.client_id,
        sign_in.token_endpoint,
    )
    assert oidc["Issuer"] != config.jwt_issuer and forward["Type"] == "forward"
    alb_sg = next(
        r for lid, r in _all(selfhosted, "acme", "AWS::EC2::SecurityGroup") if lid.startswith("SupportAlbSecurityGroup")
    )
    egress = alb_sg["Properties"]["SecurityGroupEgress"]
    assert [(e["FromPort"], e["ToPort"], e["IpProtocol"]) for e in egress] == [(443, 443, "tcp")]


def test_target_groups_in_every_install_check_readiness(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        groups = _all(assembly, env, "AWS::ElasticLoadBalancingV2::TargetGroup")
        assert len(groups) == 2
        assert {group["Properties"]["HealthCheckPath"] for _, group in groups} == {"/readyz"}, env
