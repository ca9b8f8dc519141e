"""The compliance report an auditor reads: every promise, every environment, every acknowledgement."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stacks.policy.acknowledgements import REGISTER, REVIEW_HIGH
from stacks.policy.promises import PROMISES
from stacks.policy.report import write_report
from stacks.policy.rules import ALL_RULES
from tests.stacks.conftest import Assembly


def _report(assembly: Assembly, tmp_path: Path, *, now: datetime | None = None, **changes: object) -> Path:
    outcome = replace(assembly.outcome, outdir=tmp_path, **changes)  # type: ignore[arg-type]
    return write_report(outcome, assembly.config, now=now)


def test_report_covers_every_promise_environment_and_rule(operator: Assembly, tmp_path: Path) -> None:
    folder = _report(operator, tmp_path)
    markdown = (folder / "report.md").read_text()
    assert "Result: **PASS**" in markdown
    for promise in PROMISES:
        assert f"### {promise.id}: {promise.title}" in markdown
    for rule in ALL_RULES:
        assert f"`{rule.id}`" in markdown
    for env in ("dev", "qa", "prod"):
        assert f"| {env} | P8-MultiAzDatabase | 1 | 1 | 0 | 0 | 0 |" in markdown
    for pack in ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321", "Platform Policy"):
        assert f"| {pack} |" in markdown
    checkov = next(gate for gate in operator.outcome.gates if gate.tool == "checkov")
    assert f"| checkov | {checkov.failed} | {checkov.failed} | 0 | {checkov.passed} | {checkov.failed} |" in markdown


def test_report_lists_every_acknowledgement_with_reason_and_review_date(operator: Assembly, tmp_path: Path) -> None:
    folder = _report(operator, tmp_path)
    markdown = (folder / "report.md").read_text()
    for finding, entry in operator.outcome.acknowledged:
        assert f"| {finding.environment} | `{finding.rule}` | `{finding.path}` | {entry.reason} |" in markdown
        assert entry.review_by.isoformat() in markdown


def test_report_csv_and_json_agree_with_the_checks(operator: Assembly, tmp_path: Path) -> None:
    folder = _report(operator, tmp_path)
    with (folder / "report.csv").open() as handle:
        table = list(csv.DictReader(handle))
    data = json.loads((folder / "report.json").read_text())
    assert len(table) == len(data["checks"]) > 0
    assert data["passed"] is True and data["unacknowledged"] == []
    access_logs = [r for r in table if r["resource"] == "Storage/AccessLogs/Resource" and r["promise"] == "P6"]
    assert access_logs and all(r["status"] == "acknowledged" and r["acknowledged_reason"] for r in access_logs)
    assert {r["status"] for r in table} >= {"compliant", "acknowledged"}


def test_report_overdue_acknowledgements_are_flagged_with_review_date(operator: Assembly, tmp_path: Path) -> None:
    later = datetime.combine(REVIEW_HIGH + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    folder = _report(operator, tmp_path, now=later)
    markdown = (folder / "report.md").read_text()
    high = [entry for entry in REGISTER if entry.review_by == REVIEW_HIGH]
    assert "Result: **PASS**" in markdown  # overdue is a warning unless the synth was strict
    assert f"{len(high)} acknowledgement(s) past their review date" in markdown
    assert f"{REVIEW_HIGH.isoformat()} **(overdue)**" in markdown
    data = json.loads((folder / "report.json").read_text())
    assert {(e["rule"], e["review_by"]) for e in data["overdue"]} == {(e.rule, REVIEW_HIGH.isoformat()) for e in high}
    with (folder / "report.csv").open() as handle:
        table = list(csv.DictReader(handle))
    flagged = {r["rule"] for r in table if r["review_overdue"] == "yes"}
    assert flagged and all(r["review_by"] == REVIEW_HIGH.isoformat() for r in table if r["review_overdue"] == "yes")


def test_report_nothing_overdue_flags_nothing(operator: Assembly, tmp_path: Path) -> None:
    folder = _report(operator, tmp_path, now=datetime.combine(REVIEW_HIGH, datetime.min.time(), tzinfo=UTC))
    markdown = (folder / "report.md").read_text()
    assert "No acknowledgement is past its review date." in markdown and "(overdue)" not in markdown
    assert json.loads((folder / "report.json").read_text())["overdue"] == []


def test_report_of_a_failing_synth_names_the_open_problems(operator: Assembly, tmp_path: Path) -> None:
    finding = operator.outcome.acknowledged[0][0]
    folder = _report(operator, tmp_path, unacknowledged=[finding])
    markdown = (folder / "report.md").read_text()
    assert "Result: **FAIL**" in markdown
    assert f"- unacknowledged: {finding}" in markdown


def test_every_promise_points_at_code_and_tests_that_exist() -> None:
    root = Path(__file__).resolve().parents[2]
    for promise in PROMISES:
        assert promise.tests, f"{promise.id} names no test"
        for path in (*promise.runtime, *promise.tests):
            assert (root / path).exists(), f"{promise.id}: {path} does not exist"


def test_report_per_organisation_keys_have_infrastructure_and_runtime_evidence(operator: Assembly,
                                                                               tmp_path: Path) -> None:
    """P6 and P10 (issue 15): each section names the synth-time rule that checks the organisation keys' grants
    (with its results per environment) AND the runtime modules and tests of per-organisation keys and BYOK."""
    markdown = (_report(operator, tmp_path) / "report.md").read_text()
    for promise in ("P6", "P10"):
        section = markdown.split(f"### {promise}: ", 1)[1].split("\n### ", 1)[0]
        assert "Kept in: infra + runtime." in section
        assert "`P3-TaskPermissionContract`" in section
        for evidence in ("runtime/envelope/keyrings/organisation.py", "runtime/envelope/keyrings/customer.py",
                         "tests/runtime/service/test_organisation_keys.py",
                         "tests/stacks/test_organisation_key_templates.py"):
            assert f"`{evidence}`" in section, (promise, evidence)
