"""checkov (CloudFormation framework) over every synthesized template.

checkov lives in its own virtual environment, `.venv-checkov/` (requirements/checkov.txt, created
by `make deps`): its dependency tree pins boto3, botocore and others differently from this
project. It runs as a subprocess, once over all templates, with JSON output and no network:
`--skip-download` and BC_SKIP_MAPPING (no policy metadata from the platform, no API key: all
open-source checks run locally) and CKV_SKIP_PACKAGE_UPDATE_CHECK (no version check on PyPI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stacks.policy.findings import Finding, qualified_rule_id
from stacks.policy.gates import ROOT, GateError, GateResult, merge_findings
from stacks.policy.gates.assembly import StackTemplate, stack_templates
from stacks.policy.gates.process import isolated_run, run_tool, tail

TOOL = "checkov"
DEFAULT_EXECUTABLE = ROOT / ".venv-checkov" / "bin" / "checkov"
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "LOG_LEVEL": "ERROR",
}
# A platform key or URL in the caller's environment would make checkov call the platform.
_PLATFORM_VARIABLES = ("BC_API_KEY", "BC_API_URL", "PRISMA_API_URL", "CKV_API_KEY")


def run(outdir: Path, *, executable: Path = DEFAULT_EXECUTABLE) -> GateResult:
    """Run checkov over every template of the cloud assembly in `outdir`."""
    templates = stack_templates(outdir)
    report, log = _scan(executable, [t.file for t in templates])
    summary = report.get("summary", report)  # no resource at all: checkov prints only a summary
    if summary.get("parsing_errors"):
        raise GateError(
            f"checkov could not parse {summary['parsing_errors']} template(s) of {outdir}; "
            f"run make synth again, or see checkov's log:\n{tail(log)}"
        )

    by_file = {str(template.file): template for template in templates}
    failed = report.get("results", {}).get("failed_checks", [])
    return GateResult(
        tool=TOOL,
        version=str(summary.get("checkov_version", "unknown")),
        findings=merge_findings(_finding(check, by_file) for check in failed),
        passed=int(summary.get("passed", 0)),
        failed=int(summary.get("failed", 0)),
        skipped=int(summary.get("skipped", 0)),
        templates=len(templates),
    )


def _scan(executable: Path, files: list[Path]) -> tuple[dict[str, Any], str]:
    """checkov's CloudFormation report and its log (stderr)."""
    args = [str(executable), "--framework", "cloudformation", "--output", "json", "--quiet", "--skip-download"]
    with isolated_run(OFFLINE_ENV) as (cwd, env):
        for name in _PLATFORM_VARIABLES:
            env.pop(name, None)
        # 0: every check passed, 1: some failed. Anything else (2) is a crash.
        completed = run_tool(TOOL, [*args, "--file", *map(str, files)], cwd=cwd, env=env, ok_exit_codes=(0, 1))
    try:
        output = json.loads(completed.stdout)
    except ValueError as exc:
        raise GateError(
            f"checkov printed no readable JSON ({exc}):\n{tail(completed.stdout + completed.stderr)}"
        ) from exc
    return _cloudformation_report(output), completed.stderr


def _cloudformation_report(output: Any) -> dict[str, Any]:
    """The one report of the CloudFormation framework (checkov prints a list when several ran)."""
    reports = output if isinstance(output, list) else [output]
    for report in reports:
        if isinstance(report, dict) and report.get("check_type", "cloudformation") == "cloudformation":
            return report
    raise GateError(f"checkov printed no CloudFormation report (got {[type(r).__name__ for r in reports]}).")


def _finding(check: dict[str, Any], by_file: dict[str, StackTemplate]) -> Finding:
    filename = str(check.get("file_abs_path", ""))
    template = by_file.get(filename) or by_file.get(os.path.realpath(filename))
    if template is None:
        raise GateError(f"checkov reported on {filename!r}, which is no template of the cloud assembly.")
    # "AWS::S3::Bucket.ExportBucket1234": a logical id has no dot, a resource type neither.
    logical_id = str(check.get("resource", "")).rpartition(".")[2] or None
    environment, path = template.locate(logical_id)
    return Finding(
        plugin=TOOL,
        rule=qualified_rule_id(TOOL, str(check["check_id"])),
        severity="error",
        environment=environment,
        path=path,
        description=str(check.get("check_name", "")),
    )
