"""Synthesize every environment with all policy packs and judge the result.

Two synths share one code path:
1. without acknowledgements, into a scratch directory: every finding the packs raise;
2. with the register applied, into the output directory: the cloud assembly that is deployed,
   and CDK's own verdict.
Comparing (1) with the register tells which findings are acknowledged, which are not, and
which register entries are stale (acknowledge nothing). The build passes only when there is
no unacknowledged finding, no stale entry, and CDK's verdict on (2) agrees. Entries past their
review date are overdue: a warning, or (strict mode, the project's CI) a failure.

`synthesize_assembly` is the cheap path for `cdk ls` and `cdk diff`: one synth into the output
directory, with no policy packs, no register and no gates (they run on synth).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack

from stacks.config import PlatformConfig
from stacks.platform import build_app
from stacks.policy.acknowledgements import REGISTER
from stacks.policy.findings import Finding, qualified_rule_id
from stacks.policy.gates import GateResult, cfn_lint, checkov
from stacks.policy.outcome import SynthOutcome
from stacks.policy.register import REGISTER_FILE, Acknowledgement, judge, overdue_entries, overdue_warning
from stacks.stage import PlatformStage

REPORT_FILE = "validation-report.json"
SUMMARY_FILE = "policy-summary.json"
GATE_RULE_PREFIXES = tuple(qualified_rule_id(tool, "") for tool in (cfn_lint.TOOL, checkov.TOOL))
FAIL_SYNTH_CONTEXT = "@aws-cdk/core:failSynthOnValidationErrors"
# Templates carry each resource's construct path (`aws:cdk:path`), which the gates and the platform rules
# map findings back with. The CDK CLI sets this key itself (its `pathMetadata` setting, on by default), so
# it must not be in cdk.json ("reserved context key"); direct runs and tests get the same default here.
PATH_METADATA_CONTEXT = "aws:cdk:enable-path-metadata"


def with_cli_defaults(context: dict[str, Any] | None) -> dict[str, Any]:
    """The context as the CDK CLI would hand it over: path metadata on unless the caller says otherwise."""
    return {PATH_METADATA_CONTEXT: True, **(context or {})}


def read_findings(report_path: Path) -> list[Finding]:
    """Every violation of every plugin in a CDK validation report (absent report: none)."""
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text(encoding="utf-8"))
    findings = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                environment, _, path = construct["constructPath"].partition("/")
                findings.append(
                    Finding(
                        plugin=plugin["pluginName"],
                        rule=qualified_rule_id(plugin["pluginName"], violation["ruleName"]),
                        severity=violation.get("severity", "error"),
                        environment=environment,
                        path=path,
                        description=violation.get("description", ""),
                    )
                )
    return findings


def run_gates(outdir: Path) -> list[GateResult]:
    return [cfn_lint.run(outdir), checkov.run(outdir)]


def _synth(app: Any) -> bool:
    """CDK's verdict: False when a validation plugin reported failure."""
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces the JavaScript error as RuntimeError
        if "ValidationFailed" not in str(exc) and "Validation failed" not in str(exc):
            raise
        return False
    return True


def synthesize(
    config: PlatformConfig,
    outdir: str | Path,
    *,
    register: tuple[Acknowledgement, ...] = REGISTER,
    context: dict[str, Any] | None = None,
    today: date | None = None,
    gates: bool = True,
    strict: bool = False,
) -> SynthOutcome:
    """`strict`: an acknowledgement past its review date fails the build (otherwise it is only overdue)."""
    started = time.monotonic()
    outdir = Path(outdir)
    context = with_cli_defaults(context)
    with tempfile.TemporaryDirectory(prefix="policy-raw-") as scratch:
        # Report only: the app neither throws nor prints; we read the report file instead.
        quiet = {**context, FAIL_SYNTH_CONTEXT: False}
        raw = build_app(config, outdir=scratch, context=quiet, with_acknowledgements=False)
        _synth(raw.app)
        findings = read_findings(Path(scratch) / REPORT_FILE)

    built = build_app(config, outdir=str(outdir), context=context, register=register)
    # CDK's verdict: the synth passed and its report lists nothing (warnings included) left unacknowledged.
    verdict = _synth(built.app) and not read_findings(outdir / REPORT_FILE)
    # cfn-lint and checkov read the deployed templates; their findings meet the same register.
    gate_results = run_gates(outdir) if gates else []
    findings += [finding for gate in gate_results for finding in gate.findings]
    judgement = judge(
        findings,
        [stage.env_config for stage in built.stages],
        config.app_name,
        register,
        today=today or date.today(),
        strict=strict,
        # Without the gates, their entries have nothing to match: they are not stale, just not checked.
        unchecked_rule_prefixes=() if gates else GATE_RULE_PREFIXES,
    )

    return SynthOutcome(
        outdir=outdir,
        seconds=time.monotonic() - started,
        stacks={
            stage.env_config.name: [c.stack_name for c in stage.node.children if isinstance(c, Stack)]
            for stage in built.stages
        },
        findings=findings,
        acknowledged=judgement.acknowledged,
        unacknowledged=judgement.unacknowledged,
        stale=judgement.stale,
        cdk_verdict_passed=verdict,
        expired=judgement.expired,
        gates=gate_results,
        policy_results=built.platform_pack.results,
    )


def synthesize_assembly(
    config: PlatformConfig, outdir: str | Path, *, context: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """The cloud assembly alone (for `cdk ls`, `cdk diff`): the same stages and templates as `synthesize`
    writes, in one synth, without the policy packs, the register or the gates. Environment -> stack names."""
    app = App(
        outdir=str(outdir),
        context=with_cli_defaults(context),
        builtin_cloud_formation_validation=False,  # as build_app (stacks/platform.py)
    )
    stages = [PlatformStage(app, env_config=env, app_name=config.app_name) for env in config.environments]
    app.synth()
    return {
        stage.env_config.name: [c.stack_name for c in stage.node.children if isinstance(c, Stack)] for stage in stages
    }


def summary_lines(
    outcome: SynthOutcome,
    config: PlatformConfig,
    *,
    today: date | None = None,
    register: tuple[Acknowledgement, ...] = REGISTER,
) -> list[str]:
    """The summary `make synth` prints. Entries past their review date on `today` are listed: as expired
    (failing) when the synth was strict, as warnings otherwise."""
    lines = [
        f"Synthesized {len(outcome.stacks)} environment(s) from {config.source} into {outcome.outdir}/ "
        f"in {outcome.seconds:.1f} s"
    ]
    for env in config.environments:
        if env.name in outcome.stacks:
            stacks = outcome.stacks[env.name]
            lines.append(
                f"  {env.name:<8} {env.kind:<4} {env.account}/{env.region}: {len(stacks)} stacks ({', '.join(stacks)})"
            )
    plugins = outcome.pack_names
    open_count = Counter(f.plugin for f in outcome.unacknowledged)
    ack_count = Counter(f.plugin for f, _ in outcome.acknowledged)
    lines.append("Policy findings per pack: unacknowledged / acknowledged")
    for plugin in plugins:
        per_env = ", ".join(
            f"{env} {sum(1 for f, _ in outcome.acknowledged if f.plugin == plugin and f.environment == env)}"
            for env in outcome.stacks
        )
        lines.append(f"  {plugin:<24} {open_count[plugin]:>3} / {ack_count[plugin]:<3} (acknowledged: {per_env})")
    register_used = len({entry for _, entry in outcome.acknowledged})
    lines.append(
        f"Acknowledgement register: {len(register)} entries, {register_used} in use, "
        f"{len(outcome.stale)} stale ({REGISTER_FILE})"
    )
    for finding in outcome.unacknowledged:
        lines.append(f"  unacknowledged: {finding}")
    for env_name, entry in outcome.stale:
        lines.append(
            f"  stale: {entry.rule} on {', '.join(entry.paths)} in {env_name} acknowledges no finding; remove it"
        )
    for entry in outcome.expired:
        lines.append(f"  expired (strict): {overdue_warning(entry)}")
    late = [entry for entry in overdue_entries(register, today or date.today()) if entry not in outcome.expired]
    if late:
        lines.append(
            f"Warning: {len(late)} acknowledgement(s) overdue for review; this synth passes, the project's CI "
            f"and `make synth STRICT=1` fail until they are reviewed ({REGISTER_FILE}):"
        )
        lines += [f"  overdue: {overdue_warning(entry)}" for entry in late]
    if not outcome.cdk_verdict_passed and not outcome.unacknowledged:
        lines.append(
            f"  CDK reported a validation failure the register does not explain: see {outcome.outdir}/{REPORT_FILE}"
        )
    lines.append("Result: " + ("PASS" if outcome.passed else "FAIL"))
    return lines


def write_summary(
    outcome: SynthOutcome, *, today: date | None = None, register: tuple[Acknowledgement, ...] = REGISTER
) -> Path:
    path = outcome.outdir / SUMMARY_FILE
    late = overdue_entries(register, today or date.today())
    path.write_text(
        json.dumps(
            {
                "passed": outcome.passed,
                "seconds": round(outcome.seconds, 2),
                "stacks": outcome.stacks,
                "unacknowledged": [vars(f) for f in outcome.unacknowledged],
                "acknowledged": [
                    {**vars(f), "reason": e.reason, "concerns": e.concerns} for f, e in outcome.acknowledged
                ],
                "stale": [{"environment": env, "rule": e.rule, "paths": list(e.paths)} for env, e in outcome.stale],
                "expired": [{"rule": e.rule, "review_by": e.review_by.isoformat()} for e in outcome.expired],
                "overdue": [
                    {"rule": e.rule, "paths": list(e.paths), "review_by": e.review_by.isoformat(), "reason": e.reason}
                    for e in late
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return path
