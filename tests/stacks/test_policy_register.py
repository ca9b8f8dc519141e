"""The four cdk-nag packs report nothing unacknowledged, and the one register stays exact."""

from __future__ import annotations

import os
import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest

import app
from stacks.config import load_config
from stacks.platform import build_app
from stacks.policy.acknowledgements import REGISTER, REVIEW_HIGH, REVIEW_LOW, REVIEW_MEDIUM, REVIEWED
from stacks.policy.findings import Finding, qualified_rule_id
from stacks.policy.outcome import SynthOutcome
from stacks.policy.register import Acknowledgement, RegisterError, applicable, judge, overdue_entries
from stacks.synth import summary_lines, synthesize
from tests.stacks.conftest import OPERATOR_CONFIG, Assembly, cdk_json_context

NEXT_REVIEW = REVIEW_HIGH  # any valid review date, for entries made up by the tests
MONITORING_IAM4 = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]"
)


def test_policy_packs_operator_environments_have_no_unacknowledged_finding(operator: Assembly) -> None:
    outcome = operator.outcome
    assert outcome.unacknowledged == [], "\n".join(map(str, outcome.unacknowledged))
    assert outcome.cdk_verdict_passed
    assert outcome.passed
    packs = {finding.plugin for finding, _ in outcome.acknowledged}
    assert packs == {
        "AwsSolutions",
        "HIPAA.Security",
        "NIST.800.53.R5",
        "PCI.DSS.321",
        "Platform Policy",
        "cfn-lint",
        "checkov",
    }
    assert {gate.tool for gate in outcome.gates} == {"cfn-lint", "checkov"}
    assert all(gate.templates == 25 for gate in outcome.gates)


def test_register_every_entry_is_used(operator: Assembly, selfhosted: Assembly) -> None:
    assert operator.outcome.stale == [] and selfhosted.outcome.stale == []
    used = {entry for _, entry in operator.outcome.acknowledged + selfhosted.outcome.acknowledged}
    assert used == set(REGISTER)


def test_register_entries_name_rule_construct_and_reason() -> None:
    for entry in REGISTER:
        assert entry.rule and entry.concerns
        assert len(entry.reason) >= 20
        assert all(len(path.split("/")) >= 2 for path in entry.paths)


def test_register_short_reason_is_rejected() -> None:
    with pytest.raises(RegisterError, match="at least 20 characters"):
        Acknowledgement(
            rule="AwsSolutions-S1", paths=("Data/Bucket",), reason="not needed", concerns="P6", review_by=NEXT_REVIEW
        )


def test_register_whole_stack_acknowledgement_is_rejected() -> None:
    with pytest.raises(RegisterError, match="whole stack"):
        Acknowledgement(rule="AwsSolutions-S1", paths=("Data",), reason="x" * 30, concerns="P6", review_by=NEXT_REVIEW)


def test_register_match_covers_children_of_the_named_construct_only() -> None:
    entry = Acknowledgement(
        rule="R-1[{account}]", paths=("Data/Cluster/Reader*",), reason="x" * 30, concerns="P8", review_by=NEXT_REVIEW
    )
    dev = load_config(OPERATOR_CONFIG).environment("dev")
    assert entry.matches("R-1[111111111111]", "Data/Cluster/Reader2/Resource", dev, "adp")
    assert not entry.matches("R-1[222222222222]", "Data/Cluster/Reader2/Resource", dev, "adp")
    assert not entry.matches("R-1[111111111111]", "Data/Cluster/Writer/Resource", dev, "adp")
    assert not entry.matches("R-2", "Data/Cluster/Reader2/Resource", dev, "adp")


def test_register_missing_entry_and_stale_entry_fail_the_build(tmp_path: Path) -> None:
    config = load_config(OPERATOR_CONFIG).only("dev")
    stale = Acknowledgement(
        rule=MONITORING_IAM4,
        paths=("Network/FlowLogRole",),
        reason="deliberately stale entry for the test",
        concerns="test",
        review_by=NEXT_REVIEW,
    )
    register = (*tuple(e for e in REGISTER if e.rule != MONITORING_IAM4), stale)
    outcome = synthesize(config, tmp_path, register=register, context=cdk_json_context(), gates=False)
    assert not outcome.passed
    assert not outcome.cdk_verdict_passed  # CDK itself fails on the unacknowledged finding
    assert [(f.rule, f.path) for f in outcome.unacknowledged] == [
        (MONITORING_IAM4, "Data/Cluster/MonitoringRole/Resource")
    ]
    assert outcome.stale == [("dev", stale)]


def test_register_entry_naming_no_construct_is_an_error(tmp_path: Path) -> None:
    config = load_config(OPERATOR_CONFIG).only("dev")
    ghost = Acknowledgement(
        rule="AwsSolutions-S1", paths=("Data/NoSuchBucket",), reason="x" * 30, concerns="P6", review_by=NEXT_REVIEW
    )
    with pytest.raises(RegisterError, match="names no construct"):
        synthesize(config, tmp_path, register=(*REGISTER, ghost), context=cdk_json_context(), gates=False)


def test_register_review_dates_staggered_by_risk_follow_the_documented_scheme() -> None:
    assert REVIEWED < REVIEW_HIGH < REVIEW_MEDIUM < REVIEW_LOW
    assert (REVIEW_HIGH - REVIEWED).days in range(180, 186)  # 6 months
    assert (REVIEW_MEDIUM - REVIEWED).days in range(365, 367)  # 12 months
    assert (REVIEW_LOW - REVIEWED).days in range(730, 732)  # 24 months
    assert {entry.review_by for entry in REGISTER} == {REVIEW_HIGH, REVIEW_MEDIUM, REVIEW_LOW}
    by_rule = {entry.rule: entry.review_by for entry in REGISTER}
    assert by_rule["AwsSolutions-EC23"] == REVIEW_HIGH  # the internet-facing security group: soonest
    assert by_rule["AwsSolutions-SMG4"] == REVIEW_HIGH  # secrets that do not rotate
    assert by_rule["HIPAA.Security-S3DefaultEncryptionKMS"] == REVIEW_MEDIUM  # an AWS limitation
    assert by_rule["cfn-lint::W3005"] == REVIEW_LOW  # template hygiene: latest


def test_register_overdue_entry_default_synth_warns_and_passes(tmp_path: Path) -> None:
    config = load_config(OPERATOR_CONFIG).only("dev")
    later = REVIEW_HIGH + timedelta(days=1)
    outcome = synthesize(config, tmp_path, context=cdk_json_context(), today=later, gates=False)
    assert outcome.passed and outcome.expired == []
    lines = summary_lines(outcome, config, today=later)
    high = [entry for entry in REGISTER if entry.review_by == REVIEW_HIGH]
    warned = [line for line in lines if line.startswith("  overdue: ")]
    assert len(warned) == len(high) > 0
    assert any(line.startswith(f"Warning: {len(high)} acknowledgement(s) overdue") for line in lines)
    for entry in high:
        assert any(entry.rule in line and REVIEW_HIGH.isoformat() in line and entry.reason in line for line in warned)
    assert lines[-1] == "Result: PASS"


def test_register_overdue_entry_strict_synth_fails(tmp_path: Path) -> None:
    config = load_config(OPERATOR_CONFIG).only("dev")
    later = REVIEW_HIGH + timedelta(days=1)
    outcome = synthesize(config, tmp_path, context=cdk_json_context(), today=later, gates=False, strict=True)
    assert not outcome.passed
    assert outcome.unacknowledged == [] and outcome.stale == []
    assert set(outcome.expired) == {entry for entry in REGISTER if entry.review_by == REVIEW_HIGH}
    lines = summary_lines(outcome, config, today=later)
    assert sum(line.startswith("  expired (strict): ") for line in lines) == len(outcome.expired)
    assert not any(line.startswith("  overdue: ") for line in lines)
    assert lines[-1] == "Result: FAIL"


def test_register_nothing_overdue_summary_has_no_warning(tmp_path: Path) -> None:
    outcome = SynthOutcome(
        outdir=tmp_path, seconds=0.0, stacks={}, findings=[], acknowledged=[], unacknowledged=[], stale=[],
        cdk_verdict_passed=True,
    )
    lines = summary_lines(outcome, load_config(OPERATOR_CONFIG), today=REVIEW_HIGH)  # due that day, not overdue
    assert not any(line.startswith(("Warning", "  overdue", "  expired")) for line in lines)
    assert overdue_entries(REGISTER, REVIEW_HIGH) == []
    assert lines[-1] == "Result: PASS"


def test_register_real_clock_nothing_overdue_in_strict_ci() -> None:
    """The project's CI runs strict (PLATFORM_STRICT=1): it fails here once a review is due, so the register
    is reviewed. Anywhere else an overdue entry is only a warning, as it is in a synth."""
    late = overdue_entries(REGISTER, date.today())
    if late and app.strict_mode(os.environ):
        pytest.fail("acknowledgements overdue for review:\n" + "\n".join(map(str, late)))
    if late:
        warnings.warn(f"{len(late)} acknowledgement(s) overdue for review", stacklevel=1)


def _entry(rule: str, path: str) -> Acknowledgement:
    return Acknowledgement(rule=rule, paths=(path,), reason="x" * 30, concerns="test", review_by=NEXT_REVIEW)


def _finding(rule: str, path: str) -> Finding:
    return Finding(plugin="p", rule=rule, severity="error", environment="dev", path=path, description="d")


def test_register_judge_sorts_findings_and_finds_stale_and_expired_entries() -> None:
    dev = load_config(OPERATOR_CONFIG).environment("dev")
    used, unused, gate = _entry("R-1", "Data/Cluster"), _entry("R-2", "Data/Bucket"), _entry("checkov::C", "Data/X")
    covered, elsewhere, unknown = (
        _finding("R-1", "Data/Cluster/Resource"),
        _finding("R-1", "Keys/K"),
        _finding("R-3", "Data/Cluster"),
    )
    judgement = judge(
        [covered, elsewhere, unknown],
        [dev],
        "adp",
        (used, unused, gate),
        today=NEXT_REVIEW,
        unchecked_rule_prefixes=("checkov::",),
    )
    assert judgement.acknowledged == [(covered, used)]
    assert judgement.unacknowledged == [elsewhere, unknown]
    assert judgement.stale == [("dev", unused)]  # the gate's entry was not checked, so it is not stale
    assert judgement.expired == [] and judgement.overdue == []
    late = judge([], [dev], "adp", (used,), today=NEXT_REVIEW + timedelta(days=1))
    assert late.expired == [] and late.overdue == [used]  # overdue: a warning
    strict = judge([], [dev], "adp", (used,), today=NEXT_REVIEW + timedelta(days=1), strict=True)
    assert strict.expired == [used] and strict.overdue == [used]  # strict: a failure


def test_qualified_rule_id_keeps_pack_and_annotation_ids_and_prefixes_the_others() -> None:
    assert qualified_rule_id("HIPAA.Security", "HIPAA.Security-RDSInBackupPlan") == "HIPAA.Security-RDSInBackupPlan"
    assert qualified_rule_id("x", "Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId").startswith("Annotation::")
    assert qualified_rule_id("Platform Policy", "P6-CustomerManagedKeys") == "Platform-Policy::P6-CustomerManagedKeys"
    assert qualified_rule_id("cfn-lint", "W3005") == "cfn-lint::W3005"


def test_build_app_returns_what_it_acknowledged() -> None:
    config = load_config(OPERATOR_CONFIG).only("dev")
    built = build_app(config, context=cdk_json_context())
    assert set(built.acknowledged) == {"dev"}
    dev = config.environment("dev")
    assert {entry for entry, _ in built.acknowledged["dev"]} == set(applicable(dev, REGISTER))
    assert any(path == "Data/Cluster/MonitoringRole" for _, path in built.acknowledged["dev"])
    assert build_app(config, context=cdk_json_context(), with_acknowledgements=False).acknowledged == {}
