"""The templates of a cloud assembly, found through its manifests, and where each resource came from.

`cdk.out/manifest.json` lists one nested `cdk:cloud-assembly` per environment (stage); each nested
manifest lists its `aws:cloudformation:stack` artifacts and their `templateFile`. Reading the
manifests, rather than globbing for `*.template.json`, scans exactly what would be deployed and
never a stale file left in the directory.

A template resource's construct path comes from its `aws:cdk:path` metadata where the app wrote it
(the CDK CLI turns path metadata on), else from the stack artifact's `aws:cdk:logicalId` metadata
(always written, inline or in the artifact's `additionalMetadataFile`; `python app.py` writes only
this one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.policy.gates import GateError

MANIFEST = "manifest.json"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")  # "unknown-region" (environment-agnostic) is not one


@dataclass(frozen=True)
class StackTemplate:
    file: Path
    artifact_id: str
    stage: str  # the environment: construct path of the enclosing stage ("" for a stack outside any stage)
    stack_path: str  # construct path of the stack, e.g. "dev/Service"
    stack_name: str  # the CloudFormation stack name, e.g. "adp-dev-service"
    region: str | None
    construct_paths: Mapping[str, str] = field(repr=False)  # logical id -> full construct path

    def locate(self, logical_id: str | None) -> tuple[str, str]:
        """(environment, construct path relative to the stage) of a template element. Without a
        recorded path: the stack's path and the logical id; without a logical id: the stack."""
        full = self.construct_paths.get(logical_id or "")
        if full is None:
            full = f"{self.stack_path}/{logical_id}" if logical_id else self.stack_path
        if self.stage and full.startswith(f"{self.stage}/"):
            return self.stage, full[len(self.stage) + 1 :]
        return self.stage, full


def stack_templates(outdir: Path) -> list[StackTemplate]:
    """Every stack template of the cloud assembly in `outdir`, nested assemblies included."""
    if not (outdir / MANIFEST).is_file():
        raise GateError(f"no cloud assembly in {outdir} ({MANIFEST} missing): run make synth first.")
    templates = list(_walk(outdir, stage=""))
    if not templates:
        raise GateError(f"the cloud assembly in {outdir} has no CloudFormation stack: run make synth first.")
    return templates


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read {path}: {exc}. Run make synth again.") from exc


def _walk(directory: Path, stage: str) -> Iterator[StackTemplate]:
    manifest = _read_json(directory / MANIFEST)
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "cdk:cloud-assembly":
            nested = directory / properties["directoryName"]
            yield from _walk(nested, stage=properties.get("displayName") or artifact.get("displayName") or artifact_id)
        elif artifact.get("type") == "aws:cloudformation:stack":
            file = (directory / properties["templateFile"]).resolve()
            region = str(artifact.get("environment", "")).rpartition("/")[2]
            yield StackTemplate(
                file=file,
                artifact_id=artifact_id,
                stage=stage,
                stack_path=artifact.get("displayName", artifact_id),
                stack_name=properties.get("stackName", artifact_id),
                region=region if _REGION.match(region) else None,
                construct_paths=_construct_paths(directory, artifact, file),
            )


def _construct_paths(directory: Path, artifact: dict[str, Any], template_file: Path) -> dict[str, str]:
    metadata: dict[str, list[dict[str, Any]]] = dict(artifact.get("metadata", {}))
    if "additionalMetadataFile" in artifact:
        metadata.update(_read_json(directory / artifact["additionalMetadataFile"]))
    paths = {
        entry["data"]: path.lstrip("/")
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == "aws:cdk:logicalId" and isinstance(entry.get("data"), str)
    }
    try:
        resources = json.loads(template_file.read_text(encoding="utf-8")).get("Resources", {})
    except (OSError, ValueError, AttributeError):
        return paths  # the tools report the unreadable template themselves, each in its own words
    for logical_id, resource in resources.items():
        path = (resource.get("Metadata") or {}).get("aws:cdk:path") if isinstance(resource, dict) else None
        if isinstance(path, str):
            paths[logical_id] = path
    return paths
