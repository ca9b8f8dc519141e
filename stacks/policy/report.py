"""The compliance report: for every environment and every promise, the rules that cover it, the
resources they checked and their status, and every acknowledgement with its reason.

Written by `make synth` into `cdk.out/compliance/` as report.md (for an auditor to read),
report.json (for tools) and report.csv (one row per check or acknowledgement).

Acknowledgements past their review date on the report's day are flagged as overdue (in strict mode
they also fail the synth and are listed as open problems).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from stacks.config import PlatformConfig
from stacks.policy.acknowledgements import REGISTER
from stacks.policy.findings import Finding, qualified_rule_id
from stacks.policy.outcome import SynthOutcome
from stacks.policy.platform_pack import PACK_NAME
from stacks.policy.promises import PROMISES, Promise
from stacks.policy.register import REGISTER_FILE, Acknowledgement, overdue_entries
from stacks.policy.rules import ALL_RULES, Status

REPORT_DIR = "compliance"
_PROMISE_ID = re.compile(r"\bP\d{1,2}\b")


@dataclass(frozen=True)
class Row:
    environment: str
    promise: str
    rule: str
    resource: str
    resource_type: str
    status: str
    detail: str
    acknowledged_reason: str = ""
    review_by: str = ""
    review_overdue: str = ""  # "yes" when the acknowledgement is past its review date


def rows(outcome: SynthOutcome, *, today: date | None = None) -> list[Row]:
    """One row per platform-rule check and per promise it keeps, then one per other acknowledged finding."""
    today = today or date.today()

    def late(entry: Acknowledgement | None) -> str:
        return "yes" if entry is not None and entry.review_by < today else ""

    found: list[Row] = []
    acknowledgements = {(f.environment, f.rule, f.path): entry for f, entry in outcome.acknowledged}
    for result in outcome.policy_results:
        resource = result.resource
        entry = None
        if result.status is Status.NON_COMPLIANT:
            finding_id = qualified_rule_id(PACK_NAME, result.rule)
            entry = acknowledgements.get((resource.environment, finding_id, resource.path))
        status = "acknowledged" if entry else result.status.value
        for promise in result.promises:
            found.append(
                Row(
                    environment=resource.environment,
                    promise=promise,
                    rule=result.rule,
                    resource=resource.path,
                    resource_type=resource.type,
                    status=status,
                    detail=result.detail,
                    acknowledged_reason=entry.reason if entry else "",
                    review_by=entry.review_by.isoformat() if entry else "",
                    review_overdue=late(entry),
                )
            )
    for finding, entry in outcome.acknowledged:
        if finding.plugin == PACK_NAME:
            continue
        for promise in _PROMISE_ID.findall(entry.concerns) or ["-"]:
            found.append(
                Row(
                    environment=finding.environment,
                    promise=promise,
                    rule=finding.rule,
                    resource=finding.path,
                    resource_type="",
                    status="acknowledged",
                    detail=finding.description,
                    acknowledged_reason=entry.reason,
                    review_by=entry.review_by.isoformat(),
                    review_overdue=late(entry),
                )
            )
    return found


def pack_totals(outcome: SynthOutcome) -> list[dict[str, Any]]:
    totals = []
    gates = {gate.tool: gate for gate in outcome.gates}
    for plugin in outcome.pack_names:
        findings = [f for f in outcome.findings if f.plugin == plugin]
        acknowledged = sum(1 for f, _ in outcome.acknowledged if f.plugin == plugin)
        total: dict[str, Any] = {
            "pack": plugin,
            "findings": len(findings),
            "acknowledged": acknowledged,
            "unacknowledged": len(findings) - acknowledged,
        }
        gate = gates.get(plugin)
        if gate is not None:
            total.update(passed=gate.passed, failed=gate.failed, skipped=gate.skipped, version=gate.version)
        totals.append(total)
    return totals


def write_report(
    outcome: SynthOutcome,
    config: PlatformConfig,
    *,
    now: datetime | None = None,
    register: tuple[Acknowledgement, ...] = REGISTER,
) -> Path:
    folder = outcome.outdir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    generated = now.strftime("%Y-%m-%d %H:%M UTC")
    all_rows = rows(outcome, today=now.date())
    totals = pack_totals(outcome)
    late = overdue_entries(register, now.date())
    (folder / "report.json").write_text(
        json.dumps(_as_json(outcome, config, generated, all_rows, totals, late), indent=2)
    )
    with (folder / "report.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(Row.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(vars(row) for row in all_rows)
    (folder / "report.md").write_text(
        _as_markdown(outcome, config, generated, all_rows, totals, late), encoding="utf-8"
    )
    return folder


def _as_json(
    outcome: SynthOutcome,
    config: PlatformConfig,
    generated: str,
    all_rows: list[Row],
    totals: list[dict[str, Any]],
    late: list[Acknowledgement],
) -> dict[str, Any]:
    return {
        "generated": generated,
        "config": config.source,
        "passed": outcome.passed,
        "environments": [
            {"name": e.name, "kind": e.kind, "account": e.account, "region": e.region, "hipaa": e.hipaa}
            for e in config.environments
        ],
        "packs": totals,
        "rules": [
            {"id": r.id, "promises": list(r.promises), "title": r.title, "explanation": r.explanation}
            for r in ALL_RULES
        ],
        "promises": [vars(p) for p in PROMISES],
        "checks": [vars(row) for row in all_rows],
        "unacknowledged": [vars(f) for f in outcome.unacknowledged],
        "stale": [{"environment": env, "rule": e.rule, "paths": list(e.paths)} for env, e in outcome.stale],
        "expired": [{"rule": e.rule, "review_by": e.review_by.isoformat()} for e in outcome.expired],
        "overdue": [
            {"rule": e.rule, "paths": list(e.paths), "review_by": e.review_by.isoformat(), "reason": e.reason}
            for e in late
        ],
    }


def _as_markdown(
    outcome: SynthOutcome,
    config: PlatformConfig,
    generated: str,
    all_rows: list[Row],
    totals: list[dict[str, Any]],
    late: list[Acknowledgement],
) -> str:
    lines = [
        f"# Compliance report: {config.app_name}",
        "",
        f"Generated {generated} from `{config.source}`. Result: **{'PASS' if outcome.passed else 'FAIL'}**.",
        "",
        "Every promise of the data management policy (P1-P14) is listed below, for every environment: the "
        "synth-time rules that check it, what they checked, and every finding acknowledged instead of fixed, with "
        "its reason. Promises kept at run time name the code that keeps them and the tests that prove it.",
        "",
        "| Environment | Kind | Account / region | HIPAA mode |",
        "|---|---|---|---|",
        *(
            f"| {e.name} | {e.kind} | {e.account} / {e.region} | {'on' if e.hipaa else 'off'} |"
            for e in config.environments
        ),
        "",
        "## Checks per pack",
        "",
        "| Pack | Findings | Acknowledged | Unacknowledged | Passed | Failed | Skipped |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {t['pack']} | {t['findings']} | {t['acknowledged']} | {t['unacknowledged']} | "
            f"{t.get('passed', '')} | {t.get('failed', '')} | {t.get('skipped', '')} |"
            for t in totals
        ),
        "",
    ]
    statuses = Counter(r.status.value for r in outcome.policy_results)
    lines += [
        f"The platform pack made {sum(statuses.values())} checks: {statuses['compliant']} compliant, "
        f"{statuses['non-compliant']} non-compliant (each acknowledged below or failing the build), "
        f"{statuses['not-applicable']} not applicable.",
        "",
        "## Promises",
        "",
    ]
    for promise in PROMISES:
        lines += _promise_section(promise, config, all_rows)
    lines += _acknowledgement_section(outcome, late)
    lines += _review_section(late)
    lines += _problems_section(outcome.unacknowledged, outcome)
    return "\n".join(lines) + "\n"


def _promise_section(promise: Promise, config: PlatformConfig, all_rows: list[Row]) -> list[str]:
    lines = [f"### {promise.id}: {promise.title}", "", f"Kept in: {promise.kept_in}."]
    rules = [rule for rule in ALL_RULES if promise.id in rule.promises]
    if rules:
        lines += ["", "Synth-time rules: " + "; ".join(f"`{r.id}` ({r.title})" for r in rules) + ".", ""]
        lines += ["| Environment | Rule | Checked | Compliant | Acknowledged | Non-compliant | Not applicable |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for env in config.environments:
            for rule in rules:
                mine = [
                    r for r in all_rows if r.environment == env.name and r.rule == rule.id and r.promise == promise.id
                ]
                count = Counter(r.status for r in mine)
                lines.append(
                    f"| {env.name} | {rule.id} | {len(mine)} | {count['compliant']} | {count['acknowledged']} | "
                    f"{count['non-compliant']} | {count['not-applicable']} |"
                )
    if promise.runtime or promise.tests:
        runtime = ", ".join(f"`{m}`" for m in promise.runtime) or "-"
        tests = ", ".join(f"`{t}`" for t in promise.tests) or "-"
        lines += ["", f"Run-time enforcement: {runtime}. Proven by: {tests}."]
    acknowledged = [r for r in all_rows if r.promise == promise.id and r.status == "acknowledged"]
    if acknowledged:
        lines += ["", "Acknowledged for this promise:", ""]
        lines += [f"- {r.environment} `{r.rule}` on `{r.resource}`: {r.acknowledged_reason}" for r in acknowledged]
    return [*lines, ""]


def _acknowledgement_section(outcome: SynthOutcome, late: list[Acknowledgement]) -> list[str]:
    lines = [
        "## Acknowledgements",
        "",
        f"Every finding acknowledged instead of fixed, from the one register (`{REGISTER_FILE}`).",
        "",
        "| Environment | Rule | Resource | Reason | Concerns | Review by |",
        "|---|---|---|---|---|---|",
    ]
    for finding, entry in sorted(outcome.acknowledged, key=lambda pair: (pair[0].environment, pair[0].rule)):
        lines.append(
            f"| {finding.environment} | `{finding.rule}` | `{finding.path}` | {entry.reason} | {entry.concerns} | "
            f"{entry.review_by.isoformat()}{' **(overdue)**' if entry in late else ''} |"
        )
    return [*lines, ""]


def _review_section(late: list[Acknowledgement]) -> list[str]:
    lines = ["## Reviews", ""]
    if not late:
        return [*lines, "No acknowledgement is past its review date.", ""]
    lines += [
        f"{len(late)} acknowledgement(s) past their review date: review each, then renew or remove it "
        f"(`{REGISTER_FILE}`). Strict synths (the project's CI, `make synth STRICT=1`) fail until then.",
        "",
        "| Rule | Resources | Review by | Reason |",
        "|---|---|---|---|",
    ]
    for e in late:
        paths = ", ".join(f"`{p}`" for p in e.paths)
        lines.append(f"| `{e.rule}` | {paths} | {e.review_by.isoformat()} **(overdue)** | {e.reason} |")
    return [*lines, ""]


def _problems_section(unacknowledged: list[Finding], outcome: SynthOutcome) -> list[str]:
    if outcome.passed:
        return [
            "## Open problems",
            "",
            "None: every finding is fixed or acknowledged, no entry is stale or expired.",
            "",
        ]
    lines = ["## Open problems", ""]
    lines += [f"- unacknowledged: {finding}" for finding in unacknowledged]
    lines += [f"- stale acknowledgement: {e.rule} in {env}" for env, e in outcome.stale]
    lines += [f"- expired acknowledgement: {e.rule} (review by {e.review_by})" for e in outcome.expired]
    return [*lines, ""]
