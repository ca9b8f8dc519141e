"""P3, P5, P7: the task definitions the ECS services run are the synthesized ones: same family, and per container
the same variables (names, and every literal value: database TLS, auth mode, declared commands), secrets, user,
read-only root file system and privileges. A console edit or a hand-registered revision shows here."""

from __future__ import annotations

from typing import Any

from runtime import contract
from runtime.verify_deployed.context import Context, Unreadable, check, reading
from runtime.verify_deployed.result import Checker, Result

_FLAGS = (("ReadonlyRootFilesystem", "readonlyRootFilesystem"), ("User", "user"), ("Privileged", "privileged"))


def _template_services(ctx: Context) -> dict[str, dict[str, Any]]:
    """Family -> the template's task definition properties, for the task definitions a service runs."""
    definitions = {(t.stack, logical_id): props for t, logical_id, props
                   in ctx.expected.resources("AWS::ECS::TaskDefinition")}
    found = {}
    for template, _, props in ctx.expected.resources("AWS::ECS::Service"):
        reference = props.get("TaskDefinition", {})
        definition = definitions.get((template.stack, reference.get("Ref", ""))) if isinstance(reference, dict) \
            else None
        if definition is not None and isinstance(definition.get("Family"), str):
            found[str(definition["Family"])] = definition
    return found


def _differences(synthesized: dict[str, Any], live: dict[str, Any]) -> list[str]:
    found = []
    live_containers = {c["name"]: c for c in live.get("containerDefinitions", [])}
    for container in synthesized.get("ContainerDefinitions", []):
        name = container.get("Name")
        running = live_containers.pop(name, None)
        if running is None:
            found.append(f"container {name} missing")
            continue
        wanted = {e["Name"]: e.get("Value") for e in container.get("Environment", [])}
        have = {e["name"]: e.get("value") for e in running.get("environment", [])}
        for variable in sorted(set(wanted) | set(have)):
            if variable not in have:
                found.append(f"{name}: {variable} removed")
            elif variable not in wanted:
                found.append(f"{name}: {variable} added")
            elif isinstance(wanted[variable], str) and wanted[variable] != have[variable]:
                found.append(f"{name}: {variable} changed")  # never the values: they may be anything
        secrets = ({s["Name"] for s in container.get("Secrets", [])}, {s["name"] for s in running.get("secrets", [])})
        if secrets[0] != secrets[1]:
            found.append(f"{name}: secrets {sorted(secrets[1])} instead of {sorted(secrets[0])}")
        for template_key, live_key in _FLAGS:
            if isinstance(container.get(template_key), str | bool) and container.get(template_key) != running.get(
                    live_key):
                found.append(f"{name}: {live_key} is {running.get(live_key)!r}")
    found += [f"container {name} added" for name in live_containers]
    return found


@check("drift", "task-definitions", ("P3", "P5", "P7"))
def task_definitions(ctx: Context, result: Checker) -> list[Result]:
    synthesized = _template_services(ctx)
    if not synthesized:
        return [result.not_applicable("the templates run no ECS service")]
    cluster = contract.environment_name_prefix(ctx.app, ctx.environment)
    client = ctx.clients("ecs")
    with reading("ecs", "ListServices"):
        arns = client.list_services(cluster=cluster).get("serviceArns", [])
    if not arns:
        raise Unreadable(f"no service in the ECS cluster {cluster}")
    with reading("ecs", "DescribeServices"):
        services = client.describe_services(cluster=cluster, services=arns).get("services", [])
    drift, running, ids = [], set(), []
    for service in services:
        with reading("ecs", "DescribeTaskDefinition"):
            live = client.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        ids += [service["serviceArn"], live["taskDefinitionArn"]]
        family = str(live.get("family"))
        running.add(family)
        if family not in synthesized:
            drift.append(f"{service['serviceName']} runs {family}, a task definition the templates do not have")
            continue
        drift += [f"{service['serviceName']} ({family}:{live.get('revision')}): {d}"
                  for d in _differences(synthesized[family], live)]
    drift += [f"no service runs {family}" for family in sorted(set(synthesized) - running)]
    return [result.verdict(not drift, "; ".join(drift) if drift else
                           f"{len(services)} service(s) run their synthesized task definitions", ids)]


CHECKS = (task_definitions,)
