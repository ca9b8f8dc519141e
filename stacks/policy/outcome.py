"""`SynthOutcome`: what one synthesis of every environment found and how the register judged it.
`stacks/synth.py` produces it; the summary and the compliance report read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stacks.policy.findings import Finding
from stacks.policy.gates import GateResult
from stacks.policy.packs import PACKS
from stacks.policy.platform_pack import PACK_NAME
from stacks.policy.register import Acknowledgement
from stacks.policy.rules import Result


@dataclass
class SynthOutcome:
    outdir: Path
    seconds: float
    stacks: dict[str, list[str]]  # environment -> stack names
    findings: list[Finding]
    acknowledged: list[tuple[Finding, Acknowledgement]]
    unacknowledged: list[Finding]
    stale: list[tuple[str, Acknowledgement]]  # (environment, entry)
    cdk_verdict_passed: bool
    expired: list[Acknowledgement] = field(default_factory=list)  # past their review date
    gates: list[GateResult] = field(default_factory=list)  # cfn-lint, checkov
    policy_results: list[Result] = field(repr=False, default_factory=list)  # every check of the platform pack

    @property
    def pack_names(self) -> list[str]:
        """Every pack and gate that ran, whether it found anything or not, in a stable order."""
        return sorted({*PACKS, PACK_NAME} | {f.plugin for f in self.findings} | {g.tool for g in self.gates})

    @property
    def passed(self) -> bool:
        return not self.unacknowledged and not self.stale and not self.expired and self.cdk_verdict_passed
