"""Template gates: third-party linters run over the synthesized CloudFormation templates.

Each gate module (`cfn_lint`, `checkov`) exposes `run(outdir) -> GateResult` and runs its tool
through `process.run_tool`. Findings use the same `Finding` shape as the CDK packs, with rule ids
`cfn-lint::<code>` and `checkov::<check id>` and construct paths relative to the environment's
stage, so the acknowledgement register can match them like any other finding.

A gate never reports "no findings" when it could not look: a missing tool, a crash, output it
cannot read or a template the tool could not parse raise `GateError`, whose message says how
to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stacks.policy.findings import Finding

# Where `make deps` puts things: the repository root.
ROOT = Path(__file__).resolve().parents[3]


class GateError(RuntimeError):
    """The gate could not run or its tool failed: nothing about the templates is known."""


@dataclass(frozen=True)
class GateResult:
    tool: str
    version: str
    findings: list[Finding]
    passed: int
    failed: int
    skipped: int
    templates: int


def merge_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule per construct: repeated matches (another property, another region)
    are folded into one, their distinct messages joined."""
    merged: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.environment, finding.path)
        seen = merged.get(key)
        if seen is None:
            merged[key] = finding
        elif finding.description not in seen.description.split("; "):
            merged[key] = Finding(
                plugin=seen.plugin,
                rule=seen.rule,
                severity="error" if "error" in (seen.severity, finding.severity) else seen.severity,
                environment=seen.environment,
                path=seen.path,
                description=f"{seen.description}; {finding.description}",
            )
    return sorted(merged.values(), key=lambda f: (f.rule, f.environment, f.path))
