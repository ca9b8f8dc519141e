"""`python -m runtime export|erase ...` end to end on the test cluster (wiring replaced, dispatcher real)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from runtime import cli, settings
from runtime.cli import erase as erase_cli
from runtime.cli import export as export_cli
from runtime.db.schema import JOBS_ROLE
from runtime.lifecycle.config import LifecycleSettings
from runtime.lifecycle.receipt_signing import LocalReceiptSigner
from runtime.lifecycle.wiring import LifecycleWiring
from tests.runtime.lifecycle.conftest import RETENTION_DAYS, Organisation, Stack

pytestmark = pytest.mark.postgres
RECEIPT_KEY = "k" * 40
SIGNER = LocalReceiptSigner.generate()
SIGNING_KEY = SIGNER.private_pem().decode()


@pytest.fixture
def wired(lc_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    environ = {settings.ENVIRONMENT: "test", settings.LONGEST_BACKUP_RETENTION_DAYS: str(RETENTION_DAYS),
               settings.ERASURE_RECEIPT_KEY: RECEIPT_KEY, settings.LOCAL_RECEIPT_SIGNING_KEY: SIGNING_KEY}

    def make(_: Mapping[str, str]) -> LifecycleWiring:
        return LifecycleWiring(environ, lambda service: None, LifecycleSettings.from_environment(environ),
                               lc_stack.chain_key, lc_stack.pool(JOBS_ROLE, 2), lc_stack.pool(JOBS_ROLE, 1),
                               lc_stack.pool(JOBS_ROLE, 1), lc_stack.keyring)

    monkeypatch.setattr(export_cli, "make_wiring", make)
    monkeypatch.setattr(erase_cli, "make_wiring", make)
    monkeypatch.setitem(os.environ, settings.ERASURE_RECEIPT_KEY, RECEIPT_KEY)
    yield


def test_cli_export_then_verify_then_tamper(
    wired: None, make_org: Callable[..., Organisation], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = make_org()
    assert cli.main(["export", "--org", str(org.owner_id), "--format", "csv", "--dest", str(tmp_path)]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["status"] == "complete" and outcome["row_count"] == org.total
    location = outcome["location"]
    assert cli.main(["export", "verify", location, "--manifest-sha256", outcome["manifest_sha256"]]) == 0
    assert "export OK" in capsys.readouterr().out
    (Path(location) / "users.csv").write_text("id\r\n")
    assert cli.main(["export", "verify", location]) == 1
    assert "users.csv" in capsys.readouterr().out
    assert cli.main(["export", "status", "--org", str(org.owner_id)]) == 0
    [request] = json.loads(capsys.readouterr().out)
    assert request["deadline"] and request["location"] == location


def test_cli_erase_then_verify_then_rerun_prints_same_receipt(
    wired: None, make_org: Callable[..., Organisation], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = make_org()
    receipt_file = tmp_path / "receipt.json"
    assert cli.main(["erase", "--org", str(org.owner_id), "--receipt-out", str(receipt_file)]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["rows_total"] == org.total and json.loads(receipt_file.read_text()) == receipt
    assert cli.main(["erase", "verify", "--org", str(org.owner_id), "--receipt", str(receipt_file)]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    tampered = {**receipt, "rows_total": 0}
    receipt_file.write_text(json.dumps(tampered))
    assert cli.main(["erase", "verify", "--org", str(org.owner_id), "--receipt", str(receipt_file)]) == 1
    assert "[FAIL] receipt" in capsys.readouterr().out
    assert cli.main(["erase", "--org", str(org.owner_id)]) == 0
    assert json.loads(capsys.readouterr().out) == receipt
    assert cli.main(["erase", "register"]) == 0
    assert str(org.owner_id) in capsys.readouterr().out


def test_cli_erase_unknown_organisation_fails_with_one_line(
    wired: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["erase", "--org", str(uuid.uuid4())]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: no organisation") and "Traceback" not in err


def test_cli_erase_without_retention_setting_refuses_before_touching_anything(
    lc_stack: Stack, make_org: Callable[..., Organisation], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {settings.ENVIRONMENT: "test", settings.ERASURE_RECEIPT_KEY: RECEIPT_KEY,
               settings.LOCAL_RECEIPT_SIGNING_KEY: SIGNING_KEY}
    monkeypatch.setattr(erase_cli, "make_wiring", lambda _: LifecycleWiring(
        environ, lambda s: None, LifecycleSettings.from_environment(environ), lc_stack.chain_key,
        lc_stack.pool(JOBS_ROLE, 1), lc_stack.pool(JOBS_ROLE, 1), lc_stack.pool(JOBS_ROLE, 1), lc_stack.keyring))
    org = make_org()
    assert cli.main(["erase", "--org", str(org.owner_id)]) == cli.EXIT_FAILED
    assert settings.LONGEST_BACKUP_RETENTION_DAYS in capsys.readouterr().err
    with lc_stack.db.admin() as admin:
        assert admin.execute("SELECT count(*) FROM platform.prompts WHERE owner_id = %s",
                             (org.owner_id,)).fetchone() == (len(org.rows["prompts"]),)
