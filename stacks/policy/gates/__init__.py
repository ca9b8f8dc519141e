"""Template gates: third-party linters run over the synthesized CloudFormation templates.

Each gate module (`cfn_lint`, `checkov`) exposes `run(outdir) -> GateResult`. Findings use the
same `Finding` shape as the CDK packs, with rule ids `cfn-lint::<code>` and `checkov::<check id>`
and construct paths relative to the environment's stage, so the acknowledgement register can
match them like any other finding.

A gate never reports "no findings" when it could not look: a missing tool, a crash, output it
cannot read or a template the tool could not parse raise `GateError`, whose message says how
to fix it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stacks import synth  # module import: stacks.synth may itself import the gates

# Where `make deps` puts things: the repository root.
ROOT = Path(__file__).resolve().parents[3]


class GateError(RuntimeError):
    """The gate could not run or its tool failed: nothing about the templates is known."""


@dataclass(frozen=True)
class GateResult:
    tool: str
    version: str
    findings: list[synth.Finding]
    passed: int
    failed: int
    skipped: int
    templates: int


def merge_findings(findings: Iterable[synth.Finding]) -> list[synth.Finding]:
    """One finding per rule per construct: repeated matches (another property, another region)
    are folded into one, their distinct messages joined."""
    merged: dict[tuple[str, str, str], synth.Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.environment, finding.path)
        seen = merged.get(key)
        if seen is None:
            merged[key] = finding
        elif finding.description not in seen.description.split("; "):
            merged[key] = synth.Finding(
                plugin=seen.plugin,
                rule=seen.rule,
                severity="error" if "error" in (seen.severity, finding.severity) else seen.severity,
                environment=seen.environment,
                path=seen.path,
                description=f"{seen.description}; {finding.description}",
            )
    return sorted(merged.values(), key=lambda f: (f.rule, f.environment, f.path))


@contextmanager
def isolated_run(extra_env: dict[str, str] | None = None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A scratch working directory and environment for one tool run. Both tools read config files
    from the working directory and from HOME (.cfnlintrc, .checkov.yaml) that can silently switch
    checks off; the gates' options are all on the command line, and only the register acknowledges."""
    with tempfile.TemporaryDirectory(prefix="policy-gate-") as scratch:
        env = {**os.environ, "HOME": scratch, **(extra_env or {})}
        yield Path(scratch), env


def tail(text: str, lines: int = 15) -> str:
    """The end of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])
