"""From an `AWS::ECS::TaskDefinition` to a local process: argv, environment, secrets, role.

The container's `EntryPoint`/`Command` (else the image's ENTRYPOINT/CMD, read from the Dockerfile of the
image asset the task definition names), its `Environment` and its `Secrets` are resolved against the
stand-ins; secrets are read from the local endpoint with the task's EXECUTION role, as ECS does. The
image's `python` becomes this interpreter and the process runs from the repository root (the image's
WORKDIR /app holds the same `runtime` package).

Two explicit, small tables say where the local run differs from the image and the task, and why; every
substitution made is returned as a `Translation` (e2e/translate.py), which the emulation prints.

Which task definition runs a job command: the one whose PLATFORM_TASK_COMMANDS declares it (the runtime
refuses any other command in a task that declares its commands); templates without declarations fall back
to the task with PLATFORM_SERVICE_MODE=job.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.assembly import Environment, Stack
from e2e.resolve import Resolver
from e2e.translate import Translation

ROOT = Path(__file__).resolve().parents[1]
MODE_VARIABLE = "PLATFORM_SERVICE_MODE"  # runtime/settings.py SERVICE_MODE
COMMANDS_VARIABLE = "PLATFORM_TASK_COMMANDS"  # runtime/settings.py TASK_COMMANDS


@dataclass(frozen=True)
class LocalPaths:
    """Where the image's files are on this machine for one task process."""

    database_ca: Path  # the local PostgreSQL's CA (stands in for the RDS global bundle)
    scratch: Path  # the task's own writable /tmp
    app: Path = ROOT  # /app: the repository root holds the same runtime package


# Image path -> local path, most specific first. A value that is one of these paths, or lies under one,
# is rewritten. Add a line here (and say why) for any new file the image ships that a task names.
IMAGE_PATHS: tuple[tuple[str, Callable[[LocalPaths], Path]], ...] = (
    ("/app/certs/rds-global-bundle.pem", lambda p: p.database_ca),  # Aurora's CA -> the local cluster's
    ("/tmp", lambda p: p.scratch),  # noqa: S108 (an image path, mapped to a private directory)  # the task's /tmp volume -> a directory of its own
    ("/app", lambda p: p.app),  # WORKDIR with the runtime package -> the repository root
)

# Variables the local run sets differently from the task definition, and why.
LOCAL_OVERRIDES: Mapping[str, str] = {
    "PLATFORM_SERVICE_HOST": "loopback only (127.0.0.1), never all interfaces",
    "PLATFORM_SERVICE_PORT": "a free local port: several services share one machine",
    "PLATFORM_JWT_JWKS": "the local token issuer's keys: the IdP's private key is not ours to sign with",
    "PLATFORM_JWT_JWKS_FILE": "replaced by PLATFORM_JWT_JWKS (the local token issuer's keys)",
    "PLATFORM_JWT_JWKS_URL": "replaced by PLATFORM_JWT_JWKS (the local token issuer's keys)",
}
JWKS_SOURCES = ("PLATFORM_JWT_JWKS", "PLATFORM_JWT_JWKS_FILE", "PLATFORM_JWT_JWKS_URL")
DATABASE_PORT = "PLATFORM_DATABASE_PORT"


class TaskError(RuntimeError):
    """A task definition the emulation cannot run as a process."""


@dataclass(frozen=True)
class TaskDefinition:
    stack: Stack
    logical_id: str
    resource: dict[str, Any] = field(repr=False)

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.resource.get("Properties", {}))

    @property
    def path(self) -> str:
        return str(self.resource.get("Metadata", {}).get("aws:cdk:path", f"{self.stack.path}/{self.logical_id}"))

    @property
    def container(self) -> dict[str, Any]:
        containers = self.properties.get("ContainerDefinitions", [])
        essential = [c for c in containers if c.get("Essential", True)]
        if len(essential) != 1:
            raise TaskError(f"{self.path}: the emulation runs one essential container; found {len(essential)}")
        return dict(essential[0])

    def literal(self, name: str) -> str | None:
        """The container's literal value of variable `name` (None when unset or a reference)."""
        for variable in self.container.get("Environment", []):
            if variable.get("Name") == name and isinstance(variable.get("Value"), str):
                return str(variable["Value"])
        return None

    @property
    def mode(self) -> str | None:
        return self.literal(MODE_VARIABLE)

    def raw_command(self) -> list[Any] | None:
        command = self.container.get("Command")
        return list(command) if isinstance(command, list) else None

    @property
    def declared_commands(self) -> tuple[str, ...] | None:
        """The runtime commands the task declares (PLATFORM_TASK_COMMANDS), None when it declares none."""
        from runtime.permissions import parse_declaration

        raw = self.literal(COMMANDS_VARIABLE)
        return None if raw is None else parse_declaration(raw)


def task_definitions(env: Environment) -> list[TaskDefinition]:
    return [TaskDefinition(stack, logical_id, resource)
            for stack, logical_id, resource in env.resources("AWS::ECS::TaskDefinition")]


def select(env: Environment, *, mode: str | None = None, command: list[str] | None = None) -> list[TaskDefinition]:
    """Task definitions by what the template says: their PLATFORM_SERVICE_MODE, or a command prefix."""
    found = []
    for task in task_definitions(env):
        if mode is not None and task.mode != mode:
            continue
        if command is not None and (task.raw_command() or [])[: len(command)] != command:
            continue
        found.append(task)
    return found


def setup_tasks(env: Environment, command: list[str]) -> list[TaskDefinition]:
    """The task definitions the deploy runs before the services: each `Custom::DatabaseSetup`'s
    `TaskDefinitionArn` (a Ref in its stack); without such a resource, those whose command is `command`."""
    by_id = {(t.stack.name, t.logical_id): t for t in task_definitions(env)}
    found: list[TaskDefinition] = []
    for stack, logical_id, resource in env.resources("Custom::DatabaseSetup"):
        reference = resource.get("Properties", {}).get("TaskDefinitionArn")
        target = reference.get("Ref") if isinstance(reference, dict) else None
        if (stack.name, target) not in by_id:
            raise TaskError(f"{stack.name}/{logical_id}: TaskDefinitionArn {reference!r} is not a task definition "
                            "of its stack")
        found.append(by_id[(stack.name, str(target))])
    return found or select(env, command=command)


@dataclass(frozen=True)
class Scheduled:
    """An EventBridge rule that runs a task definition on a schedule, with its container's command override."""

    path: str
    schedule: str
    task: TaskDefinition
    command: list[str]


def scheduled_tasks(env: Environment) -> list[Scheduled]:
    """Every `AWS::Events::Rule` target that runs one of the templates' task definitions (EcsParameters), with the
    command its input overrides (what EventBridge passes to RunTask)."""
    by_id = {(t.stack.name, t.logical_id): t for t in task_definitions(env)}
    found: list[Scheduled] = []
    for stack, logical_id, resource in env.resources("AWS::Events::Rule"):
        properties = resource.get("Properties", {})
        for target in properties.get("Targets", []):
            reference = target.get("EcsParameters", {}).get("TaskDefinitionArn")
            task = by_id.get((stack.name, str(reference.get("Ref")))) if isinstance(reference, dict) else None
            if task is None:
                continue
            overrides = json.loads(target.get("Input", "{}")).get("containerOverrides", [])
            commands = [o["command"] for o in overrides if o.get("name") == task.container.get("Name")]
            if len(commands) != 1:
                raise TaskError(f"{stack.name}/{logical_id}: runs {task.path} without one command override")
            path = str(resource.get("Metadata", {}).get("aws:cdk:path", f"{stack.name}/{logical_id}"))
            found.append(Scheduled(path, str(properties.get("ScheduleExpression")), task, list(commands[0])))
    return found


def command_name(argv: list[str], mode: str | None = None) -> str:
    """The contract's name of `python -m runtime ARGS...` (runtime/permissions.py: "export verify", ...)."""
    from runtime.cli import build_parser
    from runtime.permissions import command_of

    args = list(argv[3:]) if argv[:3] == ["python", "-m", "runtime"] else list(argv)
    name = command_of(build_parser().parse_args(args), {MODE_VARIABLE: mode or ""})
    if name is None:
        raise TaskError(f"not a runtime command: {' '.join(argv)}")
    return name


def for_command(env: Environment, argv: list[str]) -> TaskDefinition:
    """The task definition that runs `argv`, as an operator's `aws ecs run-task` would pick it: the one that
    declares the command; without declarations in the templates, the job task definition."""
    name = command_name(argv)
    declaring = [task for task in task_definitions(env) if task.declared_commands is not None]
    if declaring:
        found = [task for task in declaring if name in (task.declared_commands or ())]
        if len(found) != 1:
            listed = "; ".join(f"{t.path}: {', '.join(t.declared_commands or ()) or 'nothing'}" for t in declaring)
            raise TaskError(f"{len(found)} task definitions declare `{name}` in {COMMANDS_VARIABLE} "
                            f"(expected one): {listed}")
        return found[0]
    found = select(env, mode="job")
    if len(found) != 1:
        raise TaskError(f"no task declares {COMMANDS_VARIABLE}, and {len(found)} have {MODE_VARIABLE}=job")
    return found[0]


# --- the image --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    entrypoint: list[str]
    command: list[str]
    environment: dict[str, str]
    dockerfile: Path


def _instruction(line: str) -> tuple[str, str]:
    keyword, _, rest = line.strip().partition(" ")
    return keyword.upper(), rest.strip()


def read_image(dockerfile: Path) -> Image:
    """ENTRYPOINT, CMD and ENV of the final stage of a Dockerfile (exec form, `ENV k=v ...`)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    entrypoint: list[str] = []
    command: list[str] = []
    environment: dict[str, str] = {}
    in_healthcheck = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, rest = _instruction(line)
        in_healthcheck = keyword == "HEALTHCHECK"
        if in_healthcheck:
            continue
        if keyword == "FROM":
            entrypoint, command, environment = [], [], {}
        elif keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                environment[name] = value
        elif keyword in ("CMD", "ENTRYPOINT"):
            argv = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            if keyword == "CMD":
                command = [str(a) for a in argv]
            else:
                entrypoint = [str(a) for a in argv]
    return Image(entrypoint, command, environment, dockerfile)


def image_of(task: TaskDefinition, env: Environment, resolver: Resolver) -> tuple[Image, Translation]:
    """The image the task runs, and how the local run stands in for it (the image is never built here)."""
    where = f"Resources.{task.logical_id}.Properties.ContainerDefinitions[0].Image"
    uri = resolver.resolve_text(task.stack.name, task.container.get("Image", ""), where)
    tag = uri.rpartition(":")[2]
    if tag in env.images:
        dockerfile = env.images[tag] / "Dockerfile"
        return read_image(dockerfile), Translation(
            "image", f"asset {tag[:12]}", f"{sys.executable} in {ROOT} (ENTRYPOINT/CMD/ENV of the asset's Dockerfile)",
            "the image asset is not built: its runtime package is this checkout's")
    fallback = ROOT / "runtime" / "Dockerfile"
    return read_image(fallback), Translation(
        "image", uri, f"{sys.executable} in {ROOT} (ENTRYPOINT/CMD/ENV of {fallback.relative_to(ROOT)})",
        "a prebuilt image (not built or pulled here): run the same runtime from source, as for an image asset")


# --- the process ------------------------------------------------------------------------------------


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    task_role_arn: str | None
    execution_role_arn: str | None
    warnings: list[str] = field(default_factory=list)
    translations: list[Translation] = field(default_factory=list)
    cwd: Path = ROOT


SecretReader = Callable[[str, str | None], str]  # (secret ARN or name, json key) -> value


def local_path(value: str, paths: LocalPaths) -> str:
    for image_path, local in IMAGE_PATHS:
        if value == image_path or value.startswith(image_path + "/"):
            return str(local(paths)) + value[len(image_path):]
    return value


def split_secret_reference(value_from: str) -> tuple[str, str | None]:
    """`arn:...:secret:NAME-XXXXXX[:json-key[:version-stage[:version-id]]]` -> (secret ARN, json key)."""
    parts = value_from.split(":")
    if value_from.startswith("arn:") and len(parts) > 7:
        if any(parts[8:]):
            raise TaskError(f"secret {value_from}: version stages and ids are not emulated")
        return ":".join(parts[:7]), parts[7] or None
    return value_from, None


def process_spec(
    task: TaskDefinition,
    env: Environment,
    resolver: Resolver,
    *,
    paths: LocalPaths,
    read_secret: SecretReader,
    port: int | None = None,
    db_port: int | None = None,
    command: list[str] | None = None,
    name: str | None = None,
) -> ProcessSpec:
    """The process that plays `task`; `command` overrides the container's, as `ecs run-task --overrides` does."""
    stack = task.stack.name
    base = f"Resources.{task.logical_id}.Properties"
    container = task.container
    image, image_translation = image_of(task, env, resolver)
    warnings: list[str] = []
    translations = [image_translation]

    entrypoint = resolver.resolve(stack, container["EntryPoint"], f"{base}.EntryPoint") \
        if "EntryPoint" in container else image.entrypoint
    if command is None:
        command = resolver.resolve(stack, container["Command"], f"{base}.Command") \
            if "Command" in container else image.command
    argv = [str(a) for a in [*entrypoint, *(command or [])]]
    if not argv:
        raise TaskError(f"{task.path}: no command in the task definition or its image")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable

    environment: dict[str, str] = dict(image.environment)
    for i, variable in enumerate(container.get("Environment", [])):
        environment[variable["Name"]] = resolver.resolve_text(stack, variable["Value"],
                                                              f"{base}.ContainerDefinitions[0].Environment[{i}]")
    for i, secret in enumerate(container.get("Secrets", [])):
        reference = resolver.resolve_text(stack, secret["ValueFrom"], f"{base}.ContainerDefinitions[0].Secrets[{i}]")
        secret_id, json_key = split_secret_reference(reference)
        environment[secret["Name"]] = read_secret(secret_id, json_key)
    for variable, value in list(environment.items()):
        local = local_path(value, paths)
        if local != value:
            environment[variable] = local
            shown = str(paths.scratch.parent / "<task>") if local.startswith(str(paths.scratch)) else local
            translations.append(Translation("image path", f"{variable}={value}", shown, _path_reason(value)))

    if "PLATFORM_SERVICE_HOST" in environment:
        translations.append(Translation("host", f"PLATFORM_SERVICE_HOST={environment['PLATFORM_SERVICE_HOST']}",
                                        "127.0.0.1", LOCAL_OVERRIDES["PLATFORM_SERVICE_HOST"]))
        environment["PLATFORM_SERVICE_HOST"] = "127.0.0.1"
    if port is not None:
        translations.append(Translation("port", f"{task.path} PLATFORM_SERVICE_PORT="
                                        f"{environment.get('PLATFORM_SERVICE_PORT', '')}", str(port),
                                        LOCAL_OVERRIDES["PLATFORM_SERVICE_PORT"]))
        environment["PLATFORM_SERVICE_PORT"] = str(port)
    if db_port is not None and environment.get(DATABASE_PORT, str(db_port)) != str(db_port):
        warnings.append(f"the task definitions set {DATABASE_PORT} to the literal {environment[DATABASE_PORT]}, not "
                        "a reference to the cluster's Endpoint.Port (a cluster on another port breaks them)")
        translations.append(Translation("port", f"{DATABASE_PORT}={environment[DATABASE_PORT]} (a literal)",
                                        str(db_port), "the local PostgreSQL's port (the cluster's Endpoint.Port)"))
        environment[DATABASE_PORT] = str(db_port)

    task_role = _role(resolver, task, "TaskRoleArn")
    execution_role = _role(resolver, task, "ExecutionRoleArn")
    return ProcessSpec(name or task.path, argv, environment, task_role, execution_role, warnings, translations)


def _path_reason(value: str) -> str:
    if value.startswith("/app/certs/"):
        return "the image's RDS CA bundle: the local PostgreSQL's CA signs its certificate"
    if value == "/tmp" or value.startswith("/tmp/"):  # noqa: S108 (an image path)
        return "the task's /tmp volume: a directory of the task's own"
    return "the image's WORKDIR /app: the repository root holds the same runtime package"


def use_local_issuer(spec: ProcessSpec, jwks: str, issuer: str) -> Translation | None:
    """Swap the IdP's key source (JWKS, file or URL) for the local token issuer's keys; issuer and audience
    stay as the template says, so tokens are checked exactly as deployed, only signed by another key."""
    given = [source for source in JWKS_SOURCES if source in spec.env]
    if not given:
        return None
    original = spec.env[given[0]]
    for source in JWKS_SOURCES:
        spec.env.pop(source, None)
    spec.env["PLATFORM_JWT_JWKS"] = jwks
    shown = original if len(original) <= 80 else f"{original[:60]}... ({len(original)} characters)"
    return Translation("key source", f"{spec.name} {given[0]}={shown}",
                       f"PLATFORM_JWT_JWKS=<the local IdP stand-in's public key for {issuer}>",
                       "the IdP's private key is not ours: a local IdP stand-in with the template's issuer and "
                       "audience signs the tokens")


def _role(resolver: Resolver, task: TaskDefinition, key: str) -> str | None:
    value = task.properties.get(key)
    if value is None:
        return None
    return resolver.resolve_text(task.stack.name, value, f"Resources.{task.logical_id}.Properties.{key}")
