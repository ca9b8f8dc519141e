"""Small readers for synthesized CloudFormation templates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def get(props: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(props, list) and part.isdigit():
            props = props[int(part)]
        else:
            props = props.get(part) if isinstance(props, dict) else None
    return props


def tags(resource: dict[str, Any]) -> dict[str, str]:
    found = resource["Properties"].get("Tags") or resource["Properties"].get("BackupVaultTags") or {}
    if isinstance(found, dict):
        return found
    return {tag["Key"]: tag["Value"] for tag in found}


def statements(policy_resource: dict[str, Any]) -> list[dict[str, Any]]:
    document = policy_resource["Properties"].get("PolicyDocument", {})
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]
