"""cfn-lint over every synthesized template: CloudFormation's own schema and best-practice rules.

Runs the pinned cfn-lint (requirements/infra.in) of this Python environment as a subprocess with JSON
output, all templates of one region in one invocation (a template is linted against the region
its stack deploys to; the operator's environments span two regions, so two invocations, run
side by side). cfn-lint works offline: its schemas ship in the package, and only the
`--update-specs` maintenance command, never used here, downloads anything.

CDK's cross-stack references (`Fn::GetStackOutput`, from the "weak" cross-stack reference flag)
need no special handling: cfn-lint validates that intrinsic itself (rule E1033), so no error here
comes from not knowing it.

Informational (I) matches are off by default: on CDK output they are CDK's own idioms (I1022,
Fn::Join with an empty delimiter, ~60 per operator synth), not properties of our resources.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from stacks.policy.findings import Finding, qualified_rule_id
from stacks.policy.gates import GateError, GateResult, merge_findings
from stacks.policy.gates.assembly import StackTemplate, stack_templates
from stacks.policy.gates.process import isolated_run, run_tool, tail

TOOL = "cfn-lint"
DEFAULT_REGION = "us-east-1"  # for environment-agnostic stacks, as cfn-lint itself defaults
# Matches that say the tool failed, not the template: E0002 is a rule that crashed.
TOOL_FAILURE_RULES = frozenset({"E0002"})
_SECTIONS_WITH_LOGICAL_IDS = frozenset({"Resources", "Outputs", "Parameters", "Conditions", "Rules", "Mappings"})


def run(outdir: Path, *, executable: Path | None = None, include_informational: bool = False) -> GateResult:
    """Lint every template of the cloud assembly in `outdir`. `executable` defaults to the cfn-lint
    installed next to the running Python (the project's .venv)."""
    templates = stack_templates(outdir)
    command = executable or Path(sys.executable).with_name("cfn-lint")
    version = _version(command, default=executable is None)
    by_region: dict[str, list[StackTemplate]] = {}
    for template in templates:
        by_region.setdefault(template.region or DEFAULT_REGION, []).append(template)

    with isolated_run() as (cwd, env), ThreadPoolExecutor(max_workers=len(by_region)) as pool:
        outputs = pool.map(
            lambda item: _lint(command, item[0], [t.file for t in item[1]], cwd, env, include_informational),
            by_region.items(),
        )
        matches = [match for output in outputs for match in output]

    by_file = {str(template.file): template for template in templates}
    findings = merge_findings(_finding(match, by_file) for match in matches)
    failing = {str(match["Filename"]) for match in matches}
    return GateResult(
        tool=TOOL,
        version=version,
        findings=findings,
        passed=len(templates) - len(failing),
        failed=len(failing),
        skipped=0,
        templates=len(templates),
    )


def _lint(
    command: Path,
    region: str,
    files: Sequence[Path],
    cwd: Path,
    env: dict[str, str],
    include_informational: bool,
) -> list[dict[str, Any]]:
    args = [str(command), "--format", "json", "--non-zero-exit-code", "none", "--regions", region]
    if include_informational:
        args += ["--include-checks", "I"]
    # With --non-zero-exit-code none, any exit status but 0 is a usage error or a crash.
    completed = run_tool(TOOL, [*args, "--", *map(str, files)], cwd=cwd, env=env)
    try:
        matches = json.loads(completed.stdout)
        if not isinstance(matches, list):
            raise ValueError("expected a JSON list of matches")
    except ValueError as exc:
        raise GateError(
            f"cfn-lint printed no readable JSON ({exc}):\n{tail(completed.stdout + completed.stderr)}"
        ) from exc
    crashed = [m for m in matches if m.get("Rule", {}).get("Id") in TOOL_FAILURE_RULES]
    if crashed:
        details = "\n".join(f"{m.get('Filename')}: {m.get('Message')}" for m in crashed)
        raise GateError(f"cfn-lint rules crashed; fix or upgrade cfn-lint (requirements/infra.in):\n{details}")
    return matches


def _version(command: Path, *, default: bool) -> str:
    if default:  # the console script of this environment: ask the package metadata, no process needed
        try:
            return metadata.version("cfn-lint")
        except metadata.PackageNotFoundError as exc:
            raise GateError(f"cfn-lint is not installed in {sys.prefix}: run make deps.") from exc
    with isolated_run() as (cwd, env):
        return run_tool(TOOL, [str(command), "--version"], cwd=cwd, env=env).stdout.strip().removeprefix("cfn-lint ")


def _finding(match: dict[str, Any], by_file: dict[str, StackTemplate]) -> Finding:
    filename = str(match["Filename"])
    template = by_file.get(filename) or by_file.get(str(Path(filename).resolve()))
    if template is None:
        raise GateError(f"cfn-lint reported on {filename}, which is no template of the cloud assembly.")
    location = match.get("Location", {}).get("Path") or []
    logical_id = str(location[1]) if len(location) > 1 and location[0] in _SECTIONS_WITH_LOGICAL_IDS else None
    environment, path = template.locate(logical_id)
    rule_id = str(match["Rule"]["Id"])
    return Finding(
        plugin=TOOL,
        rule=qualified_rule_id(TOOL, rule_id),
        severity="error" if rule_id.startswith("E") else "warning",
        environment=environment,
        path=path,
        description=str(match.get("Message", "")),
    )
