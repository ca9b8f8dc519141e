"""Issue 14 A, items 2, 8 and 12 on the synthesized templates: the deploy-time database setup runs before every
service, only its task role reaches the master secret, the breach drill and the restore have task definitions and
roles of their own, every task declares its commands (and P3-TaskPermissionContract holds on the real templates,
but not on a mutated copy), the support load balancer has a private DNS name, and ECR images by digest."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from runtime import settings
from runtime.contract import DRILL_ROLE, JOBS_ROLE, OWNER_ROLE
from runtime.permissions import parse_declaration
from runtime.restore import RESTORE_IAM_ACTIONS
from runtime.restore.cluster import TAG_PURPOSE, TAG_RESTORE_OF
from stacks.policy.rules import AssemblyView, Status
from stacks.policy.rules.p3_task_permissions import TaskPermissionContract
from stacks.services.image import ECR_IMAGE, runtime_image
from stacks.services.support_dns import support_domain_name
from tests.stacks.conftest import Assembly
from tests.stacks.template_helpers import statements

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture(scope="module", params=["operator", "selfhosted"])
def each_install(request: pytest.FixtureRequest) -> list[tuple[Assembly, str]]:
    assembly: Assembly = request.getfixturevalue(request.param)
    return [(assembly, env) for env in assembly.templates]


def _service(assembly: Assembly, env: str) -> dict[str, Any]:
    (template,) = [t for name, t in assembly.env_templates(env).items() if name.endswith("-service")]
    return dict(template["Resources"])


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {lid: r for lid, r in resources.items() if r["Type"] == resource_type}


def _task(resources: dict[str, Any], unit: str) -> dict[str, Any]:
    (task,) = [r for lid, r in _of_type(resources, "AWS::ECS::TaskDefinition").items() if lid.startswith(unit)]
    return dict(task)


def _variables(task: dict[str, Any]) -> dict[str, Any]:
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {item["Name"]: item["Value"] for item in container.get("Environment", [])}


def _role_statements(resources: dict[str, Any], task: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every policy on the task's role (customer-managed and inline)."""
    role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    found = []
    for policy in resources.values():
        if policy["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") and {"Ref": role} in policy[
            "Properties"
        ].get("Roles", []):
            found += statements(policy)
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return set(action if isinstance(action, list) else [action])


def _granted(resources: dict[str, Any], task: dict[str, Any]) -> set[str]:
    return {a for s in _role_statements(resources, task) if s["Effect"] == "Allow" for a in _actions(s)}


def _declared(task: dict[str, Any]) -> tuple[str, ...]:
    return parse_declaration(_variables(task)[settings.TASK_COMMANDS])


# --- Issue 14 A: the database setup, before the services --------------------------------------------------------


def test_database_setup_resource_runs_the_setup_task_and_every_service_waits_for_it(
    each_install: list[tuple[Assembly, str]],
) -> None:
    for assembly, env in each_install:
        resources = _service(assembly, env)
        ((run_id, run),) = _of_type(resources, "Custom::DatabaseSetup").items()
        tasks = _of_type(resources, "AWS::ECS::TaskDefinition")
        (setup_id,) = [lid for lid in tasks if lid.startswith("DatabaseSetup")]
        assert run["Properties"]["TaskDefinitionArn"] == {"Ref": setup_id}
        assert _declared(resources[setup_id]) == ("db setup",)
        services = _of_type(resources, "AWS::ECS::Service")
        assert len(services) == 3  # the data and support services, the audit sequencer
        for logical_id, service in services.items():
            assert run_id in service.get("DependsOn", []), f"{env}/{logical_id} does not wait for the setup"


def test_master_secret_only_the_setup_task_role_reads_it(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        readers = set()
        for name, template in assembly.env_templates(env).items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] not in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                    continue
                for statement in statements(resource):
                    reads = any(a in ("secretsmanager:GetSecretValue", "secretsmanager:*", "*")
                                for a in _actions(statement))
                    if reads and "MasterUserSecret" in json.dumps(statement.get("Resource", "*")):
                        readers.add((name, logical_id, json.dumps(resource["Properties"].get("Roles"))))
                    assert not (reads and statement.get("Resource") == "*"), f"{env}/{logical_id}"
        assert len(readers) == 1, readers
        ((stack, policy, roles),) = readers
        assert stack.endswith("-service") and policy.startswith("DatabaseSetupTaskPolicy")
        assert "DatabaseSetupTaskRole" in roles


# --- Issue 14 item 2: the job without the master secret; the drill on its own ------------------------------------


def test_lifecycle_job_role_has_no_master_secret_and_no_restore_actions(
    each_install: list[tuple[Assembly, str]],
) -> None:
    restore_actions = {a for group in ("read", "restore", "drill-cleanup") for a in RESTORE_IAM_ACTIONS[group]}
    for assembly, env in each_install:
        resources = _service(assembly, env)
        job = _task(resources, "LifecycleJob")
        granted = _granted(resources, job)
        assert "secretsmanager:GetSecretValue" not in granted
        assert not granted & restore_actions and not any(a.startswith("rds:") for a in granted)
        assert settings.DATABASE_ADMIN_SECRET_ID not in _variables(job)
        declared = _declared(job)
        assert {"export", "erase", "breach declare", "breach deliver", "breach status", "audit verify"} <= set(declared)
        assert not [c for c in declared if c.startswith("restore") or c == "breach drill"]


def test_breach_drill_own_task_and_role_connects_as_the_drill_users_only(
    each_install: list[tuple[Assembly, str]],
) -> None:
    for assembly, env in each_install:
        resources = _service(assembly, env)
        drill, job = _task(resources, "BreachDrill"), _task(resources, "LifecycleJob")
        assert drill["Properties"]["TaskRoleArn"] != job["Properties"]["TaskRoleArn"]
        assert _declared(drill) == ("breach drill",)
        (container,) = drill["Properties"]["ContainerDefinitions"]
        assert container["Command"][-2:] == ["breach", "drill"]
        assert settings.DATABASE_ADMIN_SECRET_ID not in _variables(drill)
        role_statements = _role_statements(resources, drill)
        assert _granted(resources, drill) == {"rds-db:connect"}
        users = {json.dumps(r).rsplit("/", 1)[-1].strip('"]}') for s in role_statements for r in s["Resource"]}
        assert users == {JOBS_ROLE, DRILL_ROLE}  # never the migration owner: it owns the live tables (P3)
        assert OWNER_ROLE not in users


# --- Issue 14 item 8: the restore task -------------------------------------------------------------------------


def test_restore_role_grants_exactly_the_restore_actions_scoped_by_tags(
    each_install: list[tuple[Assembly, str]],
) -> None:
    for assembly, env in each_install:
        resources = _service(assembly, env)
        restore = _task(resources, "Restore")
        assert set(_declared(restore)) == {"restore plan", "restore apply", "restore drill"}
        expected = {a for actions in RESTORE_IAM_ACTIONS.values() for a in actions} | {"rds-db:connect"}
        assert _granted(resources, restore) == expected
        by_sid = {s["Sid"]: s for s in _role_statements(resources, restore)}
        create = by_sid["RestoreThisClusterOnlyTaggedAsItsRestore"]["Condition"]["StringEquals"]
        assert list(create) == [f"aws:RequestTag/{TAG_RESTORE_OF}"]
        delete = by_sid["DeleteOnlyThisClustersDrills"]["Condition"]["StringEquals"]
        assert delete[f"aws:ResourceTag/{TAG_PURPOSE}"] == "drill" and f"aws:ResourceTag/{TAG_RESTORE_OF}" in delete
        grant = by_sid["DatabaseKeyGrantForRds"]
        assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        key = json.dumps(grant["Resource"])
        existing = assembly.config.environment(env).existing_keys.get("database")
        assert (existing in key) if existing else ("DatabaseKey" in key), key
        assert json.dumps(by_sid["ConnectAsTheJobsRoleOnRestoredClusters"]["Resource"]).endswith(
            f'dbuser:*/{JOBS_ROLE}"'
        )
        assert restore["Properties"]["TaskRoleArn"] != _task(resources, "LifecycleJob")["Properties"]["TaskRoleArn"]


# --- Every task declares its commands; the rule on the real templates and on a mutated copy ---------------------


def test_every_task_declares_its_commands(each_install: list[tuple[Assembly, str]]) -> None:
    expected = {"DataService": ("serve owner",), "SupportService": ("serve support",), "DatabaseSetup": ("db setup",),
                "BreachDrill": ("breach drill",)}
    for assembly, env in each_install:
        resources = _service(assembly, env)
        for unit, commands in expected.items():
            assert _declared(_task(resources, unit)) == commands, f"{env} {unit}"


def _rule_results(assembly: Assembly, outdir: Path) -> Iterator[tuple[str, Status, str]]:
    paths = [str(p) for p in sorted(outdir.glob("assembly-*/*.template.json"))]
    for result in TaskPermissionContract().evaluate(AssemblyView(paths, assembly.config)):
        yield result.resource.path, result.status, result.detail


def test_permission_rule_real_templates_compliant(each_install: list[tuple[Assembly, str]]) -> None:
    assembly = each_install[0][0]
    results = list(_rule_results(assembly, Path(assembly.outcome.outdir)))
    assert len(results) == 7 * len(assembly.templates)
    assert all(status is Status.COMPLIANT for _, status, _ in results), results


def _mutated_copy(assembly: Assembly, tmp_path: Path, mutate: Any) -> Path:
    source = Path(assembly.outcome.outdir) / "assembly-dev"
    target = tmp_path / "assembly-dev"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("asset.*"))
    (service,) = target.glob("*Service*.template.json")
    template = json.loads(service.read_text())
    mutate(template["Resources"])
    service.write_text(json.dumps(template))
    return tmp_path


def test_permission_rule_data_role_missing_an_action_non_compliant(operator: Assembly, tmp_path: Path) -> None:
    def drop_database_connect(resources: dict[str, Any]) -> None:
        (policy,) = [r for lid, r in resources.items() if lid.startswith("DataTaskRolePolicy")]
        document = policy["Properties"]["PolicyDocument"]
        document["Statement"] = [s for s in statements(policy) if s["Action"] != "rds-db:connect"]

    results = list(_rule_results(operator, _mutated_copy(operator, tmp_path, drop_database_connect)))
    failed = [(path, detail) for path, status, detail in results if status is Status.NON_COMPLIANT]
    ((path, detail),) = failed
    assert "DataService" in path and "rds-db:connect on the database user" in detail


def test_permission_rule_job_reading_the_master_secret_non_compliant(operator: Assembly, tmp_path: Path) -> None:
    def grant_master(resources: dict[str, Any]) -> None:
        (setup,) = [r for lid, r in resources.items() if lid.startswith("DatabaseSetupTaskPolicy")]
        master = next(s for s in statements(setup) if s["Action"] == "secretsmanager:GetSecretValue")
        (job,) = [r for lid, r in resources.items() if lid.startswith("LifecycleJobRolePolicy")]
        job["Properties"]["PolicyDocument"]["Statement"].append({**master, "Sid": "Mutation"})

    results = list(_rule_results(operator, _mutated_copy(operator, tmp_path, grant_master)))
    failed = [(path, detail) for path, status, detail in results if status is Status.NON_COMPLIANT]
    ((path, detail),) = failed
    assert "LifecycleJob" in path and "can read the database's master secret" in detail and "Mutation" in detail


# --- Issue 14 item 12: the support load balancer's DNS name ------------------------------------------------------


def test_support_alb_private_zone_in_the_vpc_with_an_alias(each_install: list[tuple[Assembly, str]]) -> None:
    for assembly, env in each_install:
        config = assembly.config.environment(env)
        resources = _service(assembly, env)
        ((_, zone),) = _of_type(resources, "AWS::Route53::HostedZone").items()
        name = support_domain_name(config.domain_name)
        assert zone["Properties"]["Name"] == f"{name}."
        (vpc,) = zone["Properties"]["VPCs"]  # private: associated with this environment's VPC only
        if config.existing_vpc_id:
            assert vpc["VPCId"] == config.existing_vpc_id
        ((_, record),) = _of_type(resources, "AWS::Route53::RecordSet").items()
        assert record["Properties"]["Type"] == "A" and record["Properties"]["Name"] == f"{name}."
        (alb_id,) = [lid for lid, r in _of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").items()
                     if r["Properties"]["Scheme"] == "internal"]
        assert alb_id in json.dumps(record["Properties"]["AliasTarget"]["DNSName"])
        (template,) = [t for n, t in assembly.env_templates(env).items() if n.endswith("-service")]
        output = template["Outputs"]["SupportUrl"]
        assert output["Value"] == f"https://{name}" and "certificate" in output["Description"]


# --- ECR images by digest --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "repository", "reference"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/adp-runtime:0.1.0", "adp-runtime", "0.1.0"),
        (f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/adp-runtime@{DIGEST}", "team/adp-runtime", DIGEST),
    ],
)
def test_ecr_image_by_tag_or_digest_pulls_from_the_repository(uri: str, repository: str, reference: str) -> None:
    match = ECR_IMAGE.match(uri)
    assert match is not None and match["repository"] == repository
    assert (match["tag"] or match["digest"]) == reference
    stack = Stack(App(), "Image")
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("c", image=runtime_image(stack, uri))
    template = Template.from_stack(stack).to_json()
    ((task_definition,),) = [[r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]]
    (container,) = task_definition["Properties"]["ContainerDefinitions"]
    separator = "@" if reference.startswith("sha256:") else ":"
    assert f"/{repository}{separator}{reference}" in json.dumps(container["Image"])
    # From the repository (not any registry): the execution role may pull from it.
    assert "ecr:BatchGetImage" in json.dumps(template)


@pytest.mark.parametrize("uri", [
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/adp-runtime@sha256:abc",  # a digest is 64 hex digits
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/adp-runtime",  # neither a tag nor a digest
])
def test_ecr_image_malformed_reference_not_an_ecr_image(uri: str) -> None:
    assert ECR_IMAGE.match(uri) is None
