"""The app under the CDK CLI: no reserved context key, the exit codes, strict mode, and `cdk ls` / `cdk diff`
without the gates."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import app
from stacks import synth
from stacks.policy.acknowledgements import REVIEW_HIGH
from tests.stacks.conftest import cdk_json_context

ROOT = Path(__file__).resolve().parents[2]
CDK = "/repo/node_modules/.bin/cdk"


def test_cdk_json_context_has_no_reserved_aws_key() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert [key for key in context if key.startswith("aws:")] == []


def test_synth_context_path_metadata_is_on_unless_the_caller_turns_it_off() -> None:
    assert synth.with_cli_defaults(None)[synth.PATH_METADATA_CONTEXT] is True
    assert synth.with_cli_defaults({synth.PATH_METADATA_CONTEXT: False})[synth.PATH_METADATA_CONTEXT] is False


def test_strict_mode_platform_strict_values_switch_it() -> None:
    assert app.strict_mode({"PLATFORM_STRICT": "1"}) and app.strict_mode({"PLATFORM_STRICT": "yes"})
    assert not any(app.strict_mode(env) for env in ({}, {"PLATFORM_STRICT": ""}, {"PLATFORM_STRICT": "0"}))


def test_cdk_command_cli_command_lines_name_the_command() -> None:
    assert app.cdk_command(["node", CDK, "ls"]) == "ls"
    assert app.cdk_command(["node", CDK, "-c", "env=diff", "--profile", "x", "diff", "dev/Keys"]) == "diff"
    assert app.cdk_command(["npm", "exec", "cdk", "deploy", "ls"]) == "deploy"  # a stack named "ls"
    assert app.cdk_command(["node", CDK]) is None
    assert app.cdk_command(["python", "app.py", "ls"]) is None


def test_cli_command_walks_ancestors_until_the_cli() -> None:
    table: dict[int, tuple[int, list[str]]] = {
        40: (30, ["/bin/sh", "-c", ".venv/bin/python app.py"]),
        30: (20, ["node", CDK, "diff"]),
        20: (1, ["npm", "exec", "cdk", "synth"]),
    }
    assert app.cli_command({"CDK_OUTDIR": "x"}, pid=40, read=table.get) == "diff"
    assert app.cli_command({}, pid=40, read=table.get) is None  # not run by the CLI
    assert app.cli_command({"CDK_OUTDIR": "x"}, pid=40, read=lambda pid: None) is None  # unreadable: run all


def test_cli_command_real_parent_process_is_read() -> None:
    probe = "import app; print(app.cli_command({'CDK_OUTDIR': 'x'}))"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {probe!r}], cwd={str(ROOT)!r})"
    done = subprocess.run(  # the parent's command line stands in for the CLI's: `... cdk ls`
        [sys.executable, "-c", parent, "cdk", "ls"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "ls"


def _cli_environ(tmp_path: Path, **context: Any) -> dict[str, str]:
    return {"CDK_OUTDIR": str(tmp_path), "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), **context})}


def test_app_cdk_ls_synthesizes_the_assembly_without_packs_or_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "cli_command", lambda environ: "ls")
    monkeypatch.setattr(synth, "run_gates", lambda outdir: pytest.fail("the gates ran"))
    assert app.main(_cli_environ(tmp_path, env="dev")) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "assembly-dev" in manifest["artifacts"]
    assert not (tmp_path / synth.REPORT_FILE).exists()  # no policy pack ran
    assert not (tmp_path / "compliance").exists() and not (tmp_path / synth.SUMMARY_FILE).exists()
    templates = list((tmp_path / "assembly-dev").glob("*.template.json"))
    assert len(templates) == 8 and all("aws:cdk:path" in t.read_text() for t in templates)


def test_app_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("app_name = 3\n")
    assert app.main(_cli_environ(tmp_path, config=str(bad))) == 2
    assert "app_name" in capsys.readouterr().err


def _quick_synthesize(*args: Any, **kwargs: Any) -> Any:
    return synth.synthesize(*args, **{**kwargs, "gates": False})  # the register, not the gates, is under test


@pytest.mark.parametrize(("strict", "code"), [("", 0), ("1", 1)])
def test_app_overdue_entry_warns_by_default_and_fails_strict(
    strict: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(app, "synthesize", _quick_synthesize)
    later = datetime.combine(REVIEW_HIGH + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    environ = {**_cli_environ(tmp_path, env="dev"), "PLATFORM_STRICT": strict}
    assert app.main(environ, now=later) == code
    err = capsys.readouterr().err
    if strict:
        assert "  expired (strict): " in err and "Result: FAIL" in err
    else:
        assert "  overdue: " in err and REVIEW_HIGH.isoformat() in err and "Result: PASS" in err
    report = json.loads((tmp_path / "compliance" / "report.json").read_text())
    assert report["overdue"] and all(e["review_by"] == REVIEW_HIGH.isoformat() for e in report["overdue"])
    assert "**(overdue)**" in (tmp_path / "compliance" / "report.md").read_text()
