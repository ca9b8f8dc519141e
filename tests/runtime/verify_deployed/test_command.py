"""`python -m runtime verify-deployed`: the templates from a cloud assembly, the report in the compliance report's
shape (md, json, csv) with time and resource ids per result, exit 1 when a promise fails; and the real assembly."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.errors import ConfigurationError
from runtime.verify_deployed.expected import read_expected
from runtime.wiring.clients import aws_client
from tests.runtime.verify_deployed.healthy import ACCOUNT, REGION, Healthy, client, template_body
from tests.stacks.conftest import Assembly


def _assembly(folder: Path) -> Path:
    """A cloud assembly of one environment, dev, as `make synth` writes it (manifest, nested stage, template)."""
    stage = folder / "assembly-dev"
    stage.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"artifacts": {"assembly-dev": {
        "type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-dev", "displayName": "dev"}}}}))
    (stage / "manifest.json").write_text(json.dumps({"artifacts": {"devAll": {
        "type": "aws:cloudformation:stack", "environment": f"aws://{ACCOUNT}/{REGION}",
        "properties": {"templateFile": "devAll.template.json", "stackName": "adp-dev-all"}}}}))
    (stage / "devAll.template.json").write_text(json.dumps(template_body()))
    return folder


@pytest.fixture
def command(healthy: Healthy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("PLATFORM_DATABASE_HOST", raising=False)
    aws_client.clear()
    yield ["verify-deployed", "--env", "dev", "--cdk-out", str(_assembly(tmp_path / "cdk.out")),
           "--family", "keys", "--family", "drills", "--out", str(tmp_path / "report")]
    aws_client.clear()


def test_command_healthy_exit_0_and_three_reports(command: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Deployed-state report: dev") and "Result: **PASS**" in printed
    assert "### P6: AES-256 at rest" in printed and "Deployed state: **pass**" in printed
    document = json.loads((tmp_path / "report" / "report.json").read_text())
    assert document["passed"] is True and document["account"] == ACCOUNT
    assert [p["id"] for p in document["promises"]] == [f"P{i}" for i in range(1, 15)]
    drills = [c for c in document["checks"] if c["check"].startswith("drills.")]
    assert {c["status"] for c in drills} == {"could-not-check"}  # no database settings here
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "report.csv").read_text())))
    rotation = [r for r in rows if r["check"] == "keys.rotation"]
    assert rotation and rotation[0]["promise"] == "P6" and rotation[0]["checked_at"] and "arn:aws:kms:" in \
        rotation[0]["resources"]


def test_command_rotation_off_exit_1_names_the_failed_promise(command: list[str], healthy: Healthy, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    client("kms").disable_key_rotation(KeyId=healthy.keys["exports"])
    assert main([*command, "--format", "json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["failed_promises"] == ["P6"]
    failed = [c for c in printed["checks"] if c["status"] == "fail"]
    assert [c["check"] for c in failed] == ["keys.rotation"] and "alias/adp/dev/exports" in failed[0]["detail"]
    assert "Result: **FAIL** (failed: P6)" in (tmp_path / "report" / "report.md").read_text()


def test_command_environment_not_in_assembly_says_what_to_do(command: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command[:2], "prod", *command[3:]]) == 1
    assert "no environment 'prod' in the cloud assembly" in capsys.readouterr().err


def test_expected_from_the_synthesized_operator_assembly(operator: Assembly) -> None:
    expected = read_expected(operator.outcome.outdir, "dev")
    assert (expected.app_name, expected.account, expected.region) == ("adp", "111111111111", "eu-west-1")
    aliases = {p["AliasName"] for _, _, p in expected.resources("AWS::KMS::Alias")}
    assert "alias/adp/dev/database" in aliases and "alias/adp/dev/receipt-signing" in aliases
    assert expected.has("AWS::CloudTrail::Trail") and expected.has("AWS::ECS::Service")
    with pytest.raises(ConfigurationError, match="no environment 'staging'"):
        read_expected(operator.outcome.outdir, "staging")
