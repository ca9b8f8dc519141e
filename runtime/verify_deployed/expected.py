"""What the environment should be: its synthesized templates (cdk.out), read without the CDK.

The AWS families compare what runs with what was synthesized for this environment (the same `make synth` the
compliance report comes from): which keys, vault lock, trail, detectors and task definitions it has, and the
account, region and app name that name its resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import ConfigurationError

MANIFEST = "manifest.json"
APP_TAG = "app"  # stacks/stage.py tags every resource of a stage with app and environment
ENVIRONMENT_TAG = "environment"


@dataclass(frozen=True)
class Template:
    stack: str  # the stack name, e.g. adp-dev-keys
    body: dict[str, Any]

    def resources(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.body.get("Resources", {}).items():
            if resource.get("Type") == resource_type:
                yield logical_id, resource.get("Properties", {})


@dataclass(frozen=True)
class Expected:
    environment: str
    account: str
    region: str
    app_name: str
    templates: tuple[Template, ...]

    def resources(self, resource_type: str) -> list[tuple[Template, str, dict[str, Any]]]:
        return [(t, logical_id, props) for t in self.templates for logical_id, props in t.resources(resource_type)]

    def has(self, resource_type: str) -> bool:
        return bool(self.resources(resource_type))


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path} ({type(exc).__name__}): synthesize first (make synth), or "
                                 "give --cdk-out the cloud assembly of this environment") from None


def _stage_directory(outdir: Path, environment: str) -> Path:
    stages: dict[str, Path] = {}
    for artifact_id, artifact in _json(outdir / MANIFEST).get("artifacts", {}).items():
        if artifact.get("type") == "cdk:cloud-assembly":
            properties = artifact.get("properties", {})
            name = str(properties.get("displayName") or artifact.get("displayName") or artifact_id)
            stages[name] = outdir / properties["directoryName"]
    if environment not in stages:
        raise ConfigurationError(f"no environment {environment!r} in the cloud assembly {outdir} (it has: "
                                 f"{', '.join(sorted(stages)) or 'none'}): synthesize it (make synth)")
    return stages[environment]


def _app_name(templates: tuple[Template, ...]) -> str:
    for template in templates:
        for resource in template.body.get("Resources", {}).values():
            for tag in resource.get("Properties", {}).get("Tags", []) or []:
                if isinstance(tag, dict) and tag.get("Key") == APP_TAG and isinstance(tag.get("Value"), str):
                    return str(tag["Value"])
    raise ConfigurationError(f"no resource of the assembly carries the {APP_TAG!r} tag (stacks/stage.py sets it)")


def read_expected(outdir: Path, environment: str) -> Expected:
    directory = _stage_directory(outdir, environment)
    templates: list[Template] = []
    where = ""
    for artifact in _json(directory / MANIFEST).get("artifacts", {}).values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        properties = artifact.get("properties", {})
        templates.append(Template(str(properties.get("stackName")), _json(directory / properties["templateFile"])))
        where = where or str(artifact.get("environment", ""))
    account, _, region = where.removeprefix("aws://").partition("/")
    if not templates or not account.isdigit() or not region:
        raise ConfigurationError(f"environment {environment!r} in {outdir} has no stack of a known account and region")
    found = tuple(templates)
    return Expected(environment, account, region, _app_name(found), found)
