"""What a rule of the platform pack sees and says.

A rule reads the synthesized templates of every environment (an `AssemblyView`) and returns
one `Result` per resource it checked: compliant, non-compliant or not applicable, with the
promise (P-ID) it enforces. Rules resolve references themselves (Ref, GetAtt, cross-stack
outputs) so a check follows a key or a security group to the resource it names.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from stacks.config import EnvironmentConfig, PlatformConfig

ASSEMBLY_PREFIX = "assembly-"


class Status(Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Resource:
    environment: str
    template_path: str
    logical_id: str
    type: str
    properties: dict[str, Any] = field(repr=False, hash=False, compare=False)
    path: str  # construct path relative to the environment's stage ("Data/Cluster/Resource")

    @property
    def tags(self) -> dict[str, str]:
        raw = self.properties.get("Tags") or self.properties.get("BackupVaultTags") or {}
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        return {str(t["Key"]): str(t["Value"]) for t in raw if isinstance(t, dict) and "Key" in t}


@dataclass(frozen=True)
class Result:
    rule: str
    promises: tuple[str, ...]
    status: Status
    resource: Resource
    detail: str


class AssemblyView:
    """The templates of every environment, as a rule needs them."""

    def __init__(self, template_paths: Sequence[str], config: PlatformConfig) -> None:
        self.config = config
        self._templates: dict[str, dict[str, dict[str, Any]]] = {}  # env -> template path -> template
        for template_path in template_paths:
            env = _environment_of(template_path)
            if env is not None:
                template = json.loads(Path(template_path).read_text(encoding="utf-8"))
                self._templates.setdefault(env, {})[template_path] = template

    @property
    def environments(self) -> list[str]:
        return list(self._templates)

    def env_config(self, env: str) -> EnvironmentConfig | None:
        return next((e for e in self.config.environments if e.name == env), None)

    def templates(self, env: str) -> dict[str, dict[str, Any]]:
        return self._templates.get(env, {})

    def resources(self, env: str, *types: str) -> Iterator[Resource]:
        for template_path, template in self.templates(env).items():
            for logical_id, raw in template.get("Resources", {}).items():
                if not types or raw.get("Type") in types:
                    yield self._resource(env, template_path, logical_id, raw)

    def resource(self, env: str, template_path: str, logical_id: str) -> Resource | None:
        raw = self.templates(env).get(template_path, {}).get("Resources", {}).get(logical_id)
        return self._resource(env, template_path, logical_id, raw) if raw else None

    def resolve(self, env: str, template_path: str, value: Any) -> Resource | None:
        """The resource a reference points at: Ref / Fn::GetAtt in the same template, or a
        cross-stack output (Fn::GetStackOutput, Fn::ImportValue) of this environment."""
        if isinstance(value, dict) and "Ref" in value:
            return self.resource(env, template_path, str(value["Ref"]))
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
            return self.resource(env, template_path, logical_id)
        output_name = _output_name(value)
        if output_name is None:
            return None
        for other_path, template in self.templates(env).items():
            output = template.get("Outputs", {}).get(output_name)
            if output is not None:
                return self.resolve(env, other_path, output.get("Value"))
        return None

    @staticmethod
    def _resource(env: str, template_path: str, logical_id: str, raw: dict[str, Any]) -> Resource:
        cdk_path = str(raw.get("Metadata", {}).get("aws:cdk:path", logical_id))
        stage_relative = cdk_path.split("/", 1)[1] if cdk_path.startswith(f"{env}/") else cdk_path
        return Resource(
            environment=env,
            template_path=template_path,
            logical_id=logical_id,
            type=str(raw.get("Type")),
            properties=raw.get("Properties", {}) or {},
            path=stage_relative,
        )


class Rule(ABC):
    """One rule: an id, the promises it keeps, and a check over the templates."""

    id: ClassVar[str]
    promises: ClassVar[tuple[str, ...]]
    title: ClassVar[str]
    explanation: ClassVar[str]

    @abstractmethod
    def evaluate(self, view: AssemblyView) -> Iterable[Result]: ...

    def result(self, resource: Resource, ok: bool | None, detail: str) -> Result:
        """`ok=None` means the rule does not apply to this resource."""
        status = Status.NOT_APPLICABLE if ok is None else Status.COMPLIANT if ok else Status.NON_COMPLIANT
        return Result(rule=self.id, promises=self.promises, status=status, resource=resource, detail=detail)


def walk(node: Any) -> Iterator[Any]:
    """Every value nested in a template fragment, the fragment first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def referenced_stacks(node: Any) -> set[str]:
    """Names of the stacks a template fragment references through cross-stack outputs or exports."""
    names = set()
    for item in walk(node):
        if isinstance(item, dict) and "Fn::GetStackOutput" in item:
            names.add(str(item["Fn::GetStackOutput"].get("StackName")))
        elif isinstance(item, dict) and "Fn::ImportValue" in item:
            names.add(str(item["Fn::ImportValue"]).split(":")[0])
    return names


def _environment_of(template_path: str) -> str | None:
    for part in reversed(Path(template_path).parts[:-1]):
        if part.startswith(ASSEMBLY_PREFIX):
            return part[len(ASSEMBLY_PREFIX) :]
    return None


def _output_name(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        return str(value["Fn::GetStackOutput"].get("OutputName"))
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return str(value["Fn::ImportValue"]).split(":", 1)[-1]
    return None
