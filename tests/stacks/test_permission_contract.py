"""P3-TaskPermissionContract (stacks/policy/rules/p3_task_permissions.py) on small templates laid out like a cloud
assembly: compliant fixtures, and one non-compliant fixture per failure branch, each asserting the detail its
branch reports. A needed action counts only on THE resource of its kind (the task's own key, bucket, database
user...): by the same reference (Ref, GetAtt, a cross-stack output), the same literal ARN, or a wildcard ARN
covering it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime import settings
from stacks.config import EnvironmentConfig, PlatformConfig
from stacks.policy.rules import AssemblyView, Result, Status
from stacks.policy.rules.p3_task_permissions import TaskPermissionContract

DEV = EnvironmentConfig(name="dev", kind="dev", account="111111111111", region="eu-west-1", vpc_cidr="10.10.0.0/16")
CONFIG = PlatformConfig(source="fixture", app_name="adp", environments=(DEV,))
RULE = TaskPermissionContract()
MASTER_ARN = {"Fn::GetStackOutput": {"StackName": "adp-dev-data", "OutputName": "MasterSecretArn"}}
CONNECT = {"Effect": "Allow", "Action": "rds-db:connect", "Resource": "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*"}
READ_MASTER = {"Sid": "Master", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": MASTER_ARN}
SECRET_KEY = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:111111111111:key/db"}
IAM_AUTH = {settings.DATABASE_IAM_AUTH: "true"}
KEY_ARN = {"Fn::GetAtt": ["Key", "Arn"]}
OTHER_KEY_ARN = {"Fn::GetAtt": ["OtherKey", "Arn"]}
ENVELOPE: dict[str, Any] = {"Sid": "Envelope", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": KEY_ARN}
APPLICATION_KEY = {settings.KMS_APPLICATION_KEY_ID: {"Ref": "Key"}, settings.DATABASE_USER: "platform_app"}
BUCKET = "adp-dev-exports"
EXPORTS = {settings.EXPORTS_BUCKET: BUCKET, settings.DATABASE_USER: "platform_jobs"}
# The exports bucket's default key (Key): what S3 encrypts exports with when no key is named.
EXPORTS_KEY: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}


def _res(type_: str, props: dict[str, Any], path: str) -> dict[str, Any]:
    return {"Type": type_, "Properties": props, "Metadata": {"aws:cdk:path": f"dev/{path}"}}


def _data_stack() -> dict[str, Any]:
    cluster = _res("AWS::RDS::DBCluster", {
        "ManageMasterUserPassword": True, "MasterUsername": "platform_admin", "DBClusterIdentifier": "adp-dev-db",
        "MasterUserSecret": {"KmsKeyId": SECRET_KEY["Resource"]}}, "Data/Cluster/Resource")
    return {"Resources": {"Cluster": cluster},
            "Outputs": {"MasterSecretArn": {"Value": {"Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]}}}}


def _service_stack(commands: Any, statements: list[dict[str, Any]],
                   environ: dict[str, Any] | None = None) -> dict[str, Any]:
    """A task declaring `commands` with these variables, its role holding `statements`, beside two KMS keys (`Key`,
    `OtherKey`) and the exports bucket."""
    variables = {**IAM_AUTH, **(environ or {})}
    if commands is not None:
        variables[settings.TASK_COMMANDS] = commands
    task = _res("AWS::ECS::TaskDefinition", {
        "TaskRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
        "ContainerDefinitions": [
            {"Name": "app", "Environment": [{"Name": k, "Value": v} for k, v in variables.items()]},
        ],
    }, "Service/Task/Resource")
    role = _res("AWS::IAM::Role", {"AssumeRolePolicyDocument": {}}, "Service/Role/Resource")
    policy = _res("AWS::IAM::Policy", {"PolicyName": "p", "Roles": [{"Ref": "Role"}],
                                       "PolicyDocument": {"Statement": statements}}, "Service/Role/Policy/Resource")
    keys = {name: _res("AWS::KMS::Key", {}, f"Service/{name}/Resource") for name in ("Key", "OtherKey")}
    encryption = {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}}]}
    bucket = _res("AWS::S3::Bucket", {"BucketName": BUCKET, "BucketEncryption": encryption},
                  "Service/Exports/Resource")
    return {"Resources": {"Task": task, "Role": role, "Policy": policy, **keys, "Exports": bucket}}


def _evaluate(tmp_path: Path, service: dict[str, Any], data: dict[str, Any] | None = None,
              keys: dict[str, Any] | None = None) -> Result:
    folder = tmp_path / "assembly-dev"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    stacks = {"data": data or _data_stack(), "service": service, **({"keys": keys} if keys else {})}
    for name, template in stacks.items():
        path = folder / f"{name}.template.json"
        path.write_text(json.dumps(template))
        paths.append(str(path))
    results = list(RULE.evaluate(AssemblyView(paths, CONFIG)))
    assert len(results) == 1
    return results[0]


def _non_compliant(result: Result, *fragments: str) -> None:
    assert result.status is Status.NON_COMPLIANT, result.detail
    for fragment in fragments:
        assert fragment in result.detail


def test_task_permissions_support_service_with_its_grant_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_setup_task_reads_master_secret_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("db setup", [CONNECT, READ_MASTER, SECRET_KEY]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_wildcard_actions_grant_compliant(tmp_path: Path) -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["rds-db:*"], "Resource": CONNECT["Resource"]},
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": KEY_ARN},
        {"Effect": "Allow", "Action": "s3:*Object", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": f"arn:aws:s3:::{BUCKET}"},  # ListBucket: all but IAM
    ]
    environ = {settings.KMS_APPLICATION_KEY_ID: {"Ref": "Key"}, settings.EXPORTS_BUCKET: BUCKET}
    result = _evaluate(tmp_path, _service_stack("serve owner,export verify", statements, environ))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_missing_action_non_compliant(tmp_path: Path) -> None:
    environ = {settings.KMS_APPLICATION_KEY_ID: {"Ref": "Key"}}
    result = _evaluate(tmp_path, _service_stack("serve owner", [CONNECT], environ))
    _non_compliant(result, "`serve owner` needs what Service/Role/Resource does not allow: "
                           "kms:GenerateDataKey on the application key, kms:Decrypt on the application key")


def test_task_permissions_deny_statement_grants_nothing_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [{**CONNECT, "Effect": "Deny"}]))
    _non_compliant(result, "rds-db:connect on the database user")


def test_task_permissions_no_declaration_non_compliant(tmp_path: Path) -> None:
    _non_compliant(_evaluate(tmp_path, _service_stack(None, [CONNECT])), "declare the commands this task runs")


def test_task_permissions_computed_declaration_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack({"Ref": "Commands"}, [CONNECT]))
    _non_compliant(result, "must be a literal list of commands")


def test_task_permissions_unknown_command_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support,export all", [CONNECT]))
    _non_compliant(result, "declares `export all`, which is not a runtime command")


def test_task_permissions_job_reads_master_secret_by_arn_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("erase register", [CONNECT, READ_MASTER]))
    _non_compliant(result, "Service/Role/Resource can read the database's master secret (Service/Role/Policy/Resource, "
                           "Sid Master), but none of its commands (erase register) needs it")


def test_task_permissions_master_secret_by_star_non_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": "*"}]))
    _non_compliant(result, "can read the database's master secret")


def test_task_permissions_master_secret_by_wildcard_arn_non_compliant(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!*"
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": arn}]))
    _non_compliant(result, "can read the database's master secret")


def test_task_permissions_other_secret_by_wildcard_arn_compliant(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:adp-dev/audit-*"
    result = _evaluate(tmp_path, _service_stack("serve support", [CONNECT, {**READ_MASTER, "Resource": arn}]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_master_secret_through_managed_policy_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Managed"] = _res("AWS::IAM::ManagedPolicy", {
        "Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": [{**READ_MASTER, "Action": "secretsmanager:Get*"}]},
    }, "Service/Managed/Resource")
    _non_compliant(_evaluate(tmp_path, service), "can read the database's master secret (Service/Managed/Resource")


def test_task_permissions_master_secret_through_managed_policy_arns_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Managed"] = _res("AWS::IAM::ManagedPolicy", {
        "PolicyDocument": {"Statement": [READ_MASTER]}}, "Service/Managed/Resource")
    service["Resources"]["Role"]["Properties"]["ManagedPolicyArns"] = [{"Ref": "Managed"}]
    _non_compliant(_evaluate(tmp_path, service), "can read the database's master secret (Service/Managed/Resource")


def test_task_permissions_master_secret_inline_attached_secret_non_compliant(tmp_path: Path) -> None:
    data = {"Resources": {
        "Secret": _res("AWS::SecretsManager::Secret", {"Name": "adp-dev-db-admin"}, "Data/Secret/Resource"),
        "Cluster": _res("AWS::RDS::DBCluster", {"MasterUsername": {"Fn::Join": ["", [
            "{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:username}}"]]}}, "Data/Cluster/Resource"),
    }, "Outputs": {"SecretArn": {"Value": {"Ref": "Secret"}}}}
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Role"]["Properties"]["Policies"] = [{"PolicyName": "inline", "PolicyDocument": {
        "Statement": [{**READ_MASTER, "Resource": {"Fn::ImportValue": "adp-dev-data:SecretArn"}}]}}]
    _non_compliant(_evaluate(tmp_path, service, data), "can read the database's master secret (Service/Role/Resource "
                                                       "(inline inline)")


def test_task_permissions_unreadable_managed_policy_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    managed = ["arn:aws:iam::aws:policy/SecretsManagerReadWrite"]
    service["Resources"]["Role"]["Properties"]["ManagedPolicyArns"] = managed
    _non_compliant(_evaluate(tmp_path, service), "attaches the managed policy", "which the rule cannot read")


def test_task_permissions_role_outside_templates_non_compliant(tmp_path: Path) -> None:
    service = _service_stack("serve support", [CONNECT])
    service["Resources"]["Task"]["Properties"]["TaskRoleArn"] = "arn:aws:iam::111111111111:role/imported"
    _non_compliant(_evaluate(tmp_path, service), "is not a role in this environment's templates")


def test_task_permissions_breach_drill_reading_master_non_compliant(tmp_path: Path) -> None:
    """The contract, not the rule, says who may: `breach drill` makes its scratch database as the drill role now."""
    result = _evaluate(tmp_path, _service_stack("breach drill", [CONNECT, READ_MASTER, SECRET_KEY]))
    _non_compliant(result, "can read the database's master secret", "only the setup step may")


def test_task_permissions_breach_drill_with_its_database_users_compliant(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, _service_stack("breach drill", [CONNECT]))
    assert result.status is Status.COMPLIANT, result.detail



# --- The resource a needed action is granted on -------------------------------------------------------------------


def _key_output(name: str) -> dict[str, Any]:
    """A keys stack exporting `name` (a key) by its ARN, as the stacks' cross-stack references read it."""
    return {"Resources": {name: _res("AWS::KMS::Key", {}, f"Keys/{name}/Resource"),
                          "Alias": _res("AWS::KMS::Alias", {"AliasName": "alias/adp/dev/application",
                                                            "TargetKeyId": {"Fn::GetAtt": [name, "Arn"]}},
                                        "Keys/Alias/Resource")},
            "Outputs": {"AppKeyArn": {"Value": {"Fn::GetAtt": [name, "Arn"]}}}}


def _evaluate_with_keys(tmp_path: Path, service: dict[str, Any]) -> Result:
    return _evaluate(tmp_path, service, keys=_key_output("AppKey"))


APP_KEY_OUTPUT = {"Fn::GetStackOutput": {"StackName": "adp-dev-keys", "OutputName": "AppKeyArn"}}
APP_KEY_WILDCARD = "arn:aws:kms:eu-west-1:111111111111:key/*"


@pytest.mark.parametrize(("setting", "resource"), [
    ({"Ref": "Key"}, KEY_ARN),  # a key id setting, the key's ARN granted: the same key
    (KEY_ARN, KEY_ARN),
    ({"Ref": "Key"}, APP_KEY_WILDCARD),  # any key of this account and region
    (APP_KEY_OUTPUT, {"Fn::ImportValue": "adp-dev-keys:AppKeyArn"}),  # the same output, read two ways
    ("alias/adp/dev/application", APP_KEY_OUTPUT),  # an alias: the key it targets
    ("arn:aws:kms:eu-west-1:111111111111:alias/adp/dev/application", APP_KEY_OUTPUT),
    ({"Ref": "Key"}, "*"),  # covers it (too broad is other rules' concern)
], ids=["ref-and-arn", "same-getatt", "wildcard-arn", "cross-stack", "alias", "alias-arn", "star"])
def test_task_permissions_application_key_granted_on_it_compliant(tmp_path: Path, setting: Any,
                                                                  resource: Any) -> None:
    environ = {**APPLICATION_KEY, settings.KMS_APPLICATION_KEY_ID: setting}
    result = _evaluate_with_keys(tmp_path, _service_stack("serve owner", [CONNECT, {**ENVELOPE, "Resource": resource}],
                                                          environ))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_data_key_on_another_key_non_compliant(tmp_path: Path) -> None:
    """ECS Exec's GenerateDataKey on the compute key is not a grant on the application key."""
    statements = [CONNECT, {**ENVELOPE, "Resource": OTHER_KEY_ARN}]
    result = _evaluate(tmp_path, _service_stack("serve owner", statements, APPLICATION_KEY))
    _non_compliant(result, "`serve owner` needs what Service/Role/Resource does not allow: kms:GenerateDataKey on the "
                           "application key (allowed only on other resources), kms:Decrypt on the application key "
                           "(allowed only on other resources) (expected the application key: "
                           "arn:aws:kms:eu-west-1:111111111111:key/<Service/Key/Resource KeyId>)")


@pytest.mark.parametrize("resource", [
    {"Ref": "Key"},  # a key id, not an ARN: IAM matches ARNs
    "arn:aws:kms:eu-west-1:999999999999:key/*",  # another account's keys
    "arn:aws:kms:eu-west-1:111111111111:alias/*",  # aliases are not the key
], ids=["key-id", "other-account", "alias-arn"])
def test_task_permissions_data_key_on_a_pattern_missing_it_non_compliant(tmp_path: Path, resource: Any) -> None:
    result = _evaluate(tmp_path, _service_stack("serve owner", [CONNECT, {**ENVELOPE, "Resource": resource}],
                                                APPLICATION_KEY))
    _non_compliant(result, "kms:GenerateDataKey on the application key (allowed only on other resources)")


def test_task_permissions_object_action_on_bucket_arn_non_compliant(tmp_path: Path) -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": f"arn:aws:s3:::{BUCKET}"},
        EXPORTS_KEY]
    result = _evaluate(tmp_path, _service_stack("export verify", statements, EXPORTS))
    _non_compliant(result, "s3:GetObject on the exports bucket (allowed only on other resources)",
                   f"expected the exports bucket: arn:aws:s3:::{BUCKET}/<any object key>")
    assert "s3:ListBucket" not in result.detail  # a bucket action: on the bucket's ARN, granted


def test_task_permissions_bucket_action_on_objects_non_compliant(tmp_path: Path) -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        EXPORTS_KEY]
    result = _evaluate(tmp_path, _service_stack("export verify", statements, EXPORTS))
    _non_compliant(result, "s3:ListBucket on the exports bucket (allowed only on other resources)",
                   f"expected the exports bucket: arn:aws:s3:::{BUCKET})")


def test_task_permissions_object_prefix_narrower_than_bucket_non_compliant(tmp_path: Path) -> None:
    """The runtime writes anywhere in the bucket: a grant on one prefix does not cover `bucket/*`."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/tmp/*"]}, EXPORTS_KEY]
    result = _evaluate(tmp_path, _service_stack("export verify", statements, EXPORTS))
    _non_compliant(result, "s3:GetObject on the exports bucket (allowed only on other resources)")


@pytest.mark.parametrize("objects", [
    {"Fn::Join": ["", [{"Fn::GetAtt": ["Exports", "Arn"]}, "/*"]]},  # the bucket's ARN by reference
    {"Fn::Sub": "${Exports.Arn}/*"},
    "arn:aws:s3:::adp-dev-*/*",
], ids=["join-getatt", "sub", "wildcard"])
def test_task_permissions_bucket_objects_granted_compliant(tmp_path: Path, objects: Any) -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": {"Fn::GetAtt": ["Exports", "Arn"]}},
        EXPORTS_KEY]
    result = _evaluate(tmp_path, _service_stack("export verify", statements, EXPORTS))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_connect_as_another_user_non_compliant(tmp_path: Path) -> None:
    other = {**CONNECT, "Resource": "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*/platform_owner"}
    result = _evaluate(tmp_path, _service_stack("serve support", [other], {settings.DATABASE_USER: "platform_support"}))
    _non_compliant(result, "rds-db:connect on the database user (allowed only on other resources)",
                   "dbuser:<Data/Cluster/Resource DBClusterResourceId>/platform_support")


def test_task_permissions_connect_on_the_clusters_resource_id_compliant(tmp_path: Path) -> None:
    data = _data_stack()
    data["Outputs"]["ResourceId"] = {"Value": {"Fn::GetAtt": ["Cluster", "DBClusterResourceId"]}}
    connect = {**CONNECT, "Resource": {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":rds-db:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
        ":dbuser:", {"Fn::ImportValue": "adp-dev-data:ResourceId"}, "/platform_support"]]}}
    service = _service_stack("serve support", [connect], {settings.DATABASE_USER: "platform_support"})
    result = _evaluate(tmp_path, service, data)
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_setup_reading_another_secret_non_compliant(tmp_path: Path) -> None:
    other = {**READ_MASTER, "Resource": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:adp-dev/audit-*"}
    result = _evaluate(tmp_path, _service_stack("db setup", [CONNECT, other, SECRET_KEY]))
    _non_compliant(result, "secretsmanager:GetSecretValue on the master secret (allowed only on other resources)")


def test_task_permissions_setup_master_secret_by_wildcard_compliant(tmp_path: Path) -> None:
    rds_managed = {**READ_MASTER, "Resource": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!*"}
    result = _evaluate(tmp_path, _service_stack("db setup", [CONNECT, rds_managed, SECRET_KEY]))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_not_resource_excluding_the_key_non_compliant(tmp_path: Path) -> None:
    statement = {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "NotResource": KEY_ARN}
    result = _evaluate(tmp_path, _service_stack("serve owner", [CONNECT, statement], APPLICATION_KEY))
    _non_compliant(result, "kms:Decrypt on the application key (allowed only on other resources)")


def test_task_permissions_not_resource_excluding_another_key_compliant(tmp_path: Path) -> None:
    statement = {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "NotResource": OTHER_KEY_ARN}
    result = _evaluate(tmp_path, _service_stack("serve owner", [CONNECT, statement], APPLICATION_KEY))
    assert result.status is Status.COMPLIANT, result.detail


def test_task_permissions_topic_by_ref_and_its_key_compliant(tmp_path: Path) -> None:
    """The topic's ARN setting names the template topic: `Ref` grants it, and its `KmsMasterKeyId` is the key."""
    topic_arn = "arn:aws:sns:eu-west-1:111111111111:adp-dev-incidents"
    publish = {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "Topic"}}
    service = _service_stack("breach status", [CONNECT, publish, ENVELOPE], {settings.INCIDENT_TOPIC_ARN: topic_arn})
    service["Resources"]["Topic"] = _res("AWS::SNS::Topic", {"TopicName": "adp-dev-incidents",
                                                             "KmsMasterKeyId": {"Ref": "Key"}}, "Service/Topic")
    assert (result := _evaluate(tmp_path, service)).status is Status.COMPLIANT, result.detail
    service["Resources"]["Topic"]["Properties"]["KmsMasterKeyId"] = {"Ref": "OtherKey"}
    _non_compliant(_evaluate(tmp_path, service), "kms:GenerateDataKey on the incident topic's key (allowed only on "
                                                 "other resources)", "Service/OtherKey/Resource KeyId")


def test_task_permissions_restore_on_the_source_cluster_only_non_compliant(tmp_path: Path) -> None:
    """A restore creates clusters and instances it names at run time: a grant on the source's ARN alone is short."""
    statements = [{"Effect": "Allow", "Action": "rds:*",
                   "Resource": "arn:aws:rds:eu-west-1:111111111111:cluster:adp-dev-db"}]
    result = _evaluate(tmp_path, _service_stack("restore plan", statements))
    _non_compliant(result, "rds:DescribeDBInstances on the database cluster (allowed only on other resources)",
                   "arn:aws:rds:eu-west-1:111111111111:db:<any db id>")
    assert "rds:DescribeDBClusters" not in result.detail  # the source cluster's own ARN: granted


def test_task_permissions_breach_drill_without_the_drill_role_non_compliant(tmp_path: Path) -> None:
    jobs_only = {**CONNECT, "Resource": "arn:aws:rds-db:eu-west-1:111111111111:dbuser:*/platform_jobs"}
    result = _evaluate(tmp_path, _service_stack("breach drill", [jobs_only], {settings.DATABASE_USER: "platform_jobs"}))
    _non_compliant(result, "rds-db:connect on the drill database users (allowed only on other resources) (expected "
                           "the drill database users: arn:aws:rds-db:eu-west-1:111111111111:dbuser:"
                           "<Data/Cluster/Resource DBClusterResourceId>/platform_drill)")


ORG_KEYS_ENV = {settings.APP_NAME: "adp", settings.ENVIRONMENT: "dev", settings.DATABASE_USER: "platform_jobs"}
ORG_KEYS_DIRECT = "arn:aws:kms:eu-west-1:111111111111:key/*"
CUSTOMER_KEYS = "arn:aws:kms:eu-west-1:*:key/*"


def _org_key_grants(keys: str, alias: str, customer: str = CUSTOMER_KEYS) -> list[dict[str, Any]]:
    return [CONNECT,
            {"Effect": "Allow", "Action": ["kms:DescribeKey", "kms:EnableKeyRotation", "kms:GenerateDataKey",
                                           "kms:Decrypt", "kms:CreateAlias"], "Resource": keys},
            {"Effect": "Allow", "Action": "kms:CreateAlias", "Resource": alias},
            {"Effect": "Allow", "Action": ["kms:CreateKey", "kms:TagResource"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/platform:app": "adp"}}},
            {"Effect": "Allow", "Action": ["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:GenerateDataKey",
                                           "kms:Decrypt"], "Resource": customer}]


def test_task_permissions_organisation_keys_by_their_arn_form_compliant(tmp_path: Path) -> None:
    """Organisation keys are this account's `key/<any id>` (CreateAlias also its alias alias/<app>-<env>-org-*);
    organisations' own keys (BYOK) any account's `key/<any id>` in this region: key/* grants cover them."""
    statements = _org_key_grants(ORG_KEYS_DIRECT, "arn:aws:kms:eu-west-1:111111111111:alias/adp-dev-org-*")
    result = _evaluate(tmp_path, _service_stack("org provision-keys,org register-key", statements, ORG_KEYS_ENV))
    assert result.status is Status.COMPLIANT, result.detail


@pytest.mark.parametrize(("keys", "alias", "customer", "missing"), [
    ("arn:aws:kms:eu-west-1:999999999999:key/*", "arn:aws:kms:eu-west-1:111111111111:alias/adp-dev-org-*",
     CUSTOMER_KEYS, "kms:EnableKeyRotation on the organisation keys"),  # another account's keys
    (ORG_KEYS_DIRECT, "arn:aws:kms:eu-west-1:111111111111:alias/adp-qa-org-*", CUSTOMER_KEYS,
     "kms:CreateAlias on the organisation keys"),  # another environment's aliases
    (ORG_KEYS_DIRECT, "arn:aws:kms:eu-west-1:111111111111:alias/adp-dev-org-*",
     "arn:aws:kms:us-east-1:*:key/*", "kms:GetKeyRotationStatus on the customer keys"),  # another region
])
def test_task_permissions_organisation_keys_on_other_resources_non_compliant(
    tmp_path: Path, keys: str, alias: str, customer: str, missing: str
) -> None:
    statements = _org_key_grants(keys, alias, customer)
    result = _evaluate(tmp_path, _service_stack("org provision-keys,org register-key", statements, ORG_KEYS_ENV))
    _non_compliant(result, missing)
