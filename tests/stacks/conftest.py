"""Synthesize every operator environment ONCE per test session and share the templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import stacks  # noqa: F401  (jsii environment first)
from stacks.config import PlatformConfig, load_config
from stacks.policy.gates.assembly import stack_templates
from stacks.policy.outcome import SynthOutcome
from stacks.synth import synthesize

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_CONFIG = ROOT / "config" / "operator.toml"
SELFHOSTED_CONFIG = ROOT / "config" / "selfhosted.example.toml"


@dataclass
class Assembly:
    """The synthesized templates of one config, by environment and stack name."""

    config: PlatformConfig
    outcome: SynthOutcome
    templates: dict[str, dict[str, dict[str, Any]]]  # env -> stack name -> template

    def env_templates(self, env: str) -> dict[str, dict[str, Any]]:
        return self.templates[env]

    def resources(self, env: str, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(stack name, logical id, resource) of every resource of `resource_type` in `env`."""
        for stack_name, template in self.templates[env].items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] == resource_type:
                    yield stack_name, logical_id, resource


def _read_templates(outdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    templates: dict[str, dict[str, dict[str, Any]]] = {}
    for stack in stack_templates(outdir):
        templates.setdefault(stack.stage, {})[stack.stack_name] = json.loads(stack.file.read_text())
    return templates


def cdk_json_context() -> dict[str, Any]:
    """The same context `make synth` and the CLI use (feature flags from cdk.json)."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def synth_assembly(config: PlatformConfig, outdir: Path) -> Assembly:
    outcome = synthesize(config, outdir, context=cdk_json_context())
    return Assembly(config=config, outcome=outcome, templates=_read_templates(outdir))


@pytest.fixture(scope="session")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synth_assembly(load_config(OPERATOR_CONFIG), tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def selfhosted(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synth_assembly(load_config(SELFHOSTED_CONFIG), tmp_path_factory.mktemp("cdk.out.selfhosted"))
