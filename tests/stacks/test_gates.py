"""The cfn-lint and checkov gates, on tiny hand-written cloud assemblies.

Each fixture is a cdk.out in miniature: a top manifest naming one nested assembly per
environment, whose manifest names a stack artifact and its template. The compliant fixture
records construct paths the way `python app.py` without path metadata does (the artifact's
`aws:cdk:logicalId` metadata, in an additional metadata file) and uses CDK's
`Fn::GetStackOutput`; the non-compliant one records them in the template (`aws:cdk:path`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.policy.findings import Finding
from stacks.policy.gates import GateError, GateResult, cfn_lint, checkov
from stacks.policy.gates.assembly import stack_templates

KEY_ARN = {"Fn::GetStackOutput": {"StackName": "adp-dev-keys", "Region": "eu-west-1", "OutputName": "KeyArn"}}
CLEAN = {  # logical id -> (construct id, resource)
    "AlertsTopic1A2B3C4D": (
        "Alerts",
        {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": KEY_ARN, "DisplayName": "alerts"}},
    ),
}
NON_COMPLIANT = {
    # No access logging, no versioning: checkov CKV_AWS_18, CKV_AWS_21.
    "ExportsBucket5E6F7A8B": ("Exports", {"Type": "AWS::S3::Bucket", "Properties": {}}),
    # A DependsOn that the Ref already implies (W3005), and a misspelt property (E3002).
    "AlertsTopic1A2B3C4D": (
        "Alerts",
        {
            "Type": "AWS::SNS::Topic",
            "DependsOn": ["ExportsBucket5E6F7A8B"],
            "Properties": {"TopicName": {"Ref": "ExportsBucket5E6F7A8B"}, "KmsMasterKey": "alias/aws/sns"},
        },
    ),
}


def write_assembly(
    root: Path,
    env: str,
    stack: str,
    resources: dict[str, tuple[str, dict[str, Any]]],
    *,
    paths_in_template: bool,
    template_text: str | None = None,
) -> Path:
    """A cloud assembly with one environment (stage) holding one stack; returns its directory."""
    outdir = root / "cdk.out"
    nested = outdir / f"assembly-{env}"
    nested.mkdir(parents=True)
    artifact_id = f"{env}{stack}0123ABCD"
    template_file = f"{artifact_id}.template.json"
    template: dict[str, Any] = {"Resources": {}}
    metadata: dict[str, list[dict[str, str]]] = {}
    for logical_id, (construct_id, resource) in resources.items():
        path = f"{env}/{stack}/{construct_id}/Resource"
        if paths_in_template:
            resource = {**resource, "Metadata": {"aws:cdk:path": path}}
        else:
            metadata[f"/{path}"] = [{"type": "aws:cdk:logicalId", "data": logical_id}]
        template["Resources"][logical_id] = resource
    (nested / template_file).write_text(template_text or json.dumps(template, indent=1))
    (nested / f"{artifact_id}.metadata.json").write_text(json.dumps(metadata))
    stack_artifact = {
        "type": "aws:cloudformation:stack",
        "environment": "aws://111111111111/eu-west-1",
        "properties": {"templateFile": template_file, "stackName": f"adp-{env}-{stack.lower()}"},
        "additionalMetadataFile": f"{artifact_id}.metadata.json",
        "displayName": f"{env}/{stack}",
    }
    (nested / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": {artifact_id: stack_artifact}}))
    (outdir / "manifest.json").write_text(
        json.dumps(
            {
                "version": "55.0.0",
                "artifacts": {
                    f"assembly-{env}": {
                        "type": "cdk:cloud-assembly",
                        "properties": {"directoryName": f"assembly-{env}", "displayName": env},
                    },
                    # Not a template: the walk must skip it.
                    "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
                },
            }
        )
    )
    return outdir


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_assembly(tmp_path_factory.mktemp("clean"), "dev", "Audit", CLEAN, paths_in_template=False)


@pytest.fixture(scope="module")
def non_compliant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_assembly(tmp_path_factory.mktemp("bad"), "qa", "Storage", NON_COMPLIANT, paths_in_template=True)


def by_rule(result: GateResult) -> dict[str, Finding]:
    return {finding.rule: finding for finding in result.findings}


def test_templates_are_found_through_the_manifests_with_their_construct_paths(clean: Path, tmp_path: Path) -> None:
    (template,) = stack_templates(clean)
    assert (template.stage, template.stack_path, template.region) == ("dev", "dev/Audit", "eu-west-1")
    assert template.locate("AlertsTopic1A2B3C4D") == ("dev", "Audit/Alerts/Resource")
    # No recorded path: the stack and the logical id; no logical id: the stack.
    assert template.locate("Unknown1234") == ("dev", "Audit/Unknown1234")
    assert template.locate(None) == ("dev", "Audit")
    # A stray template next to the assembly is not scanned.
    (clean / "assembly-dev" / "stale.template.json").write_text("{}")
    assert [t.file.name for t in stack_templates(clean)] == [template.file.name]
    with pytest.raises(GateError, match="run make synth"):
        stack_templates(tmp_path)


# cfn-lint


@pytest.fixture(scope="module")
def cfn_lint_clean(clean: Path) -> GateResult:
    return cfn_lint.run(clean)


@pytest.fixture(scope="module")
def cfn_lint_bad(non_compliant: Path) -> GateResult:
    return cfn_lint.run(non_compliant)


def test_cfn_lint_passes_a_clean_template_with_cross_stack_references(cfn_lint_clean: GateResult) -> None:
    assert cfn_lint_clean.findings == []
    assert (cfn_lint_clean.tool, cfn_lint_clean.templates, cfn_lint_clean.passed, cfn_lint_clean.failed) == (
        "cfn-lint",
        1,
        1,
        0,
    )
    assert cfn_lint_clean.version == "1.58.0"


def test_cfn_lint_reports_errors_and_warnings_on_the_construct(cfn_lint_bad: GateResult) -> None:
    findings = by_rule(cfn_lint_bad)
    assert set(findings) == {"cfn-lint::E3002", "cfn-lint::W3005"}
    error, warning = findings["cfn-lint::E3002"], findings["cfn-lint::W3005"]
    assert (error.plugin, error.severity, error.environment, error.path) == (
        "cfn-lint",
        "error",
        "qa",
        "Storage/Alerts/Resource",
    )
    assert "KmsMasterKey" in error.description
    assert (warning.severity, warning.environment, warning.path) == ("warning", "qa", "Storage/Alerts/Resource")
    assert "ExportsBucket5E6F7A8B" in warning.description
    assert (cfn_lint_bad.passed, cfn_lint_bad.failed, cfn_lint_bad.templates) == (0, 1, 1)


def test_cfn_lint_missing_or_crashing_fails_loudly(clean: Path, tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"cfn-lint is not installed .*run make deps"):
        cfn_lint.run(clean, executable=tmp_path / "no-such-cfn-lint")
    crashing = tmp_path / "crashing-cfn-lint"
    crashing.write_text("#!/bin/sh\necho 'Traceback: boom' >&2\nexit 1\n")
    crashing.chmod(0o755)
    with pytest.raises(GateError, match=r"cfn-lint failed \(exit 1\)(.|\n)*boom"):
        cfn_lint.run(clean, executable=crashing)


# checkov


@pytest.fixture(scope="module")
def checkov_clean(clean: Path) -> GateResult:
    return checkov.run(clean)


@pytest.fixture(scope="module")
def checkov_bad(non_compliant: Path) -> GateResult:
    return checkov.run(non_compliant)


def test_checkov_passes_a_clean_template(checkov_clean: GateResult) -> None:
    assert checkov_clean.findings == []
    assert checkov_clean.tool == "checkov"
    assert checkov_clean.version.startswith("3.3.")
    assert checkov_clean.passed >= 1
    assert (checkov_clean.failed, checkov_clean.skipped, checkov_clean.templates) == (0, 0, 1)


def test_checkov_reports_each_failed_check_on_the_construct(checkov_bad: GateResult) -> None:
    findings = by_rule(checkov_bad)
    assert {"checkov::CKV_AWS_18", "checkov::CKV_AWS_21"} <= set(findings)
    logging = findings["checkov::CKV_AWS_18"]
    assert (logging.plugin, logging.severity, logging.environment, logging.path) == (
        "checkov",
        "error",
        "qa",
        "Storage/Exports/Resource",
    )
    assert "access logging" in logging.description
    assert checkov_bad.failed == len(checkov_bad.findings)
    assert checkov_bad.passed > 0


def test_checkov_missing_or_crashing_fails_loudly(clean: Path, tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"checkov is not installed .*run make deps"):
        checkov.run(clean, executable=tmp_path / "no-such-checkov")
    crashing = tmp_path / "crashing-checkov"
    crashing.write_text("#!/bin/sh\necho 'Exception traceback: boom' >&2\nexit 2\n")
    crashing.chmod(0o755)
    with pytest.raises(GateError, match=r"checkov failed \(exit 2\)(.|\n)*boom"):
        checkov.run(clean, executable=crashing)


@pytest.fixture(scope="module")
def unreadable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unreadable")
    return write_assembly(root, "dev", "Audit", CLEAN, paths_in_template=False, template_text='{"Resources": {')


def test_a_template_the_tools_cannot_read_never_passes(unreadable: Path) -> None:
    result = cfn_lint.run(unreadable)
    assert [(f.rule, f.severity, f.environment, f.path) for f in result.findings] == [
        ("cfn-lint::E0000", "error", "dev", "Audit")
    ]
    with pytest.raises(GateError, match="checkov could not parse 1 template"):
        checkov.run(unreadable)
