"""One environment of a synthesized cloud assembly: its stacks' templates, account, region and image assets.

`cdk.out/manifest.json` lists one nested `cdk:cloud-assembly` per environment (stage, by display name);
the nested manifest lists the `aws:cloudformation:stack` artifacts with their `templateFile` and
`environment` (`aws://ACCOUNT/REGION`), and `cdk:asset-manifest` artifacts whose `dockerImages` name the
directory each container image is built from.

This is a small reader of its own, not `stacks.policy.gates.assembly.stack_templates`: the emulation needs
the account and the image assets, which that walker does not carry, and it must not load aws_cdk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
Template = dict[str, Any]


class AssemblyError(RuntimeError):
    """The cloud assembly is missing, unreadable, or has no such environment."""


@dataclass(frozen=True)
class Stack:
    name: str  # the CloudFormation stack name, e.g. "adp-dev-service"
    artifact_id: str
    path: str  # construct path, e.g. "dev/Service"
    account: str
    region: str
    template: Template = field(repr=False)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template.get("Resources", {}))


@dataclass(frozen=True)
class Environment:
    name: str
    directory: Path  # the nested assembly's directory
    stacks: dict[str, Stack]  # by stack name, in manifest order
    images: dict[str, Path]  # docker image asset hash -> build directory

    @property
    def account(self) -> str:
        return next(iter(self.stacks.values())).account

    @property
    def region(self) -> str:
        return next(iter(self.stacks.values())).region

    def resources(self, resource_type: str) -> list[tuple[Stack, str, dict[str, Any]]]:
        """(stack, logical id, resource) of every resource of `resource_type`, in a stable order."""
        return [
            (stack, logical_id, resource)
            for stack in self.stacks.values()
            for logical_id, resource in stack.resources.items()
            if resource.get("Type") == resource_type
        ]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssemblyError(f"cannot read {path}: {exc}; synthesize again (python app.py)") from exc


def environments(outdir: Path) -> dict[str, Path]:
    """Environment name -> nested assembly directory, for every stage in `outdir`."""
    manifest = _read_json(outdir / MANIFEST)
    found: dict[str, Path] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") == "cdk:cloud-assembly":
            properties = artifact.get("properties", {})
            name = properties.get("displayName") or artifact.get("displayName") or artifact_id
            found[str(name)] = outdir / properties["directoryName"]
    return found


def read_environment(outdir: Path, name: str) -> Environment:
    """The stacks of environment `name` in the cloud assembly at `outdir`."""
    if not (outdir / MANIFEST).is_file():
        raise AssemblyError(f"no cloud assembly in {outdir} ({MANIFEST} missing): synthesize first (python app.py)")
    stages = environments(outdir)
    if name not in stages:
        raise AssemblyError(f"no environment {name!r} in {outdir}; it has: {', '.join(sorted(stages)) or 'none'}")
    directory = stages[name]
    manifest = _read_json(directory / MANIFEST)
    stacks: dict[str, Stack] = {}
    images: dict[str, Path] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            account, region = _account_region(str(artifact.get("environment", "")), artifact_id)
            stack_name = str(properties.get("stackName") or artifact.get("displayName") or artifact_id)
            stacks[stack_name] = Stack(
                name=stack_name,
                artifact_id=artifact_id,
                path=str(artifact.get("displayName") or artifact_id),
                account=account,
                region=region,
                template=_read_json(directory / properties["templateFile"]),
            )
        elif artifact.get("type") == "cdk:asset-manifest":
            assets = _read_json(directory / properties["file"])
            for digest, image in assets.get("dockerImages", {}).items():
                images[digest] = (directory / image["source"]["directory"]).resolve()
    if not stacks:
        raise AssemblyError(f"environment {name!r} in {outdir} has no CloudFormation stack")
    return Environment(name=name, directory=directory, stacks=stacks, images=images)


def _account_region(environment: str, artifact_id: str) -> tuple[str, str]:
    prefix = "aws://"
    account, _, region = environment.removeprefix(prefix).partition("/")
    if not environment.startswith(prefix) or not account.isdigit() or not region or "unknown" in region:
        raise AssemblyError(
            f"stack {artifact_id} is environment-agnostic ({environment or 'no environment'}): the emulation needs "
            "the account and region the stage was synthesized for"
        )
    return account, region
