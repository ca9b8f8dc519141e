"""`python -m runtime breach ...` end to end from the container environment: declare (notify to files, write
the report), resume without sending twice, status, deliver, drill (as the drill role: no master secret, no
superuser password);
usage errors and unknown incidents are one line."""

from __future__ import annotations

import base64
import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime import cli, settings
from runtime.breach.synthetic import append_events, attacker_reads, bracket, seed_organisations
from runtime.breach.wiring import BreachWiring
from runtime.cli import breach as breach_cli
from runtime.db import Database, PostgresWrappedKeyStore, Records, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.schema import APP_ROLE, DRILL_ROLE, JOBS_ROLE
from runtime.envelope import EnvelopeCipher, KeyMaterial, LocalKeyring
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

CHAIN_KEY = "k" * 48
MASTER_KEY = os.urandom(32)


@dataclass
class Staged:
    attacker: uuid.UUID
    window: list[Any]
    addresses: set[str]


@pytest.fixture
def environment(fresh_db: PlatformDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The job's environment variables for `fresh_db`; passwords per role in a PGPASSFILE; returns the outbox."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("".join(f"*:*:*:{role}:{pw}\n" for role, pw in fresh_db.passwords.items())
                      + f"*:*:*:postgres:{fresh_db.cluster.superuser_password}\n")
    pgpass.chmod(0o600)
    variables = {
        "PGPASSFILE": str(pgpass),
        settings.ENVIRONMENT: "test",
        settings.DATABASE_HOST: "localhost",
        settings.DATABASE_PORT: str(fresh_db.cluster.port),
        settings.DATABASE_NAME: fresh_db.dbname,
        settings.DATABASE_USER: JOBS_ROLE,
        settings.DATABASE_CA_BUNDLE: str(fresh_db.cluster.ca_file),
        settings.AUDIT_CHAIN_KEY: CHAIN_KEY,
        settings.LOCAL_MASTER_KEY: base64.b64encode(MASTER_KEY).decode(),
        settings.BREACH_NOTIFIER: "file",
        settings.BREACH_NOTIFIER_DIR: str(outbox),
        settings.BREACH_CONTACT: "security@operator.example",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(settings.KMS_APPLICATION_KEY_ID, raising=False)
    monkeypatch.delenv(settings.INCIDENT_TOPIC_ARN, raising=False)
    monkeypatch.chdir(tmp_path)
    return outbox


@pytest.fixture
def staged(fresh_db: PlatformDatabase) -> Iterator[Staged]:
    app = open_pool(fresh_db.settings(APP_ROLE, pool_max_size=3), fresh_db.password(APP_ROLE), name="cli-app")
    keyring = LocalKeyring(KeyMaterial(MASTER_KEY), environment="test")
    records = Records(EnvelopeCipher(keyring=keyring, store=PostgresWrappedKeyStore(app)))
    ledger = AuditLedger()
    orgs = seed_organisations(Database(app, ledger), records, count=3, users_per_organisation=2, tag="cli")
    attacker = uuid.uuid4()
    with bracket(app) as window:
        append_events(app, ledger, attacker_reads(orgs[:2], attacker, request="req-cli", rng=random.Random(2)))  # noqa: S311
    app.close()
    yield Staged(attacker, window, {o.addresses[u] for o in orgs[:2] for u in o.user_ids})


def _declare(staged: Staged) -> list[str]:
    return ["breach", "declare", "--from", staged.window[0].isoformat(), "--to", staged.window[1].isoformat(),
            "--actors", str(staged.attacker), "--summary", "A misused support key read stored prompts.",
            "--mitigation", "We revoked the key.", "--report-dir", "reports"]


def test_cli_declare_notifies_writes_report_and_resumes_without_resending(
    environment: Path, staged: Staged, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(_declare(staged)) == 0
    out = capsys.readouterr().out
    incident = out.split("declared: ")[1].split()[0]
    assert "audit chain over the window" in out and "OK" in out
    assert "impacted: 2 organisations, 4 users" in out and "notified 4, pending 0, failed 0" in out
    delivered = {json.loads(p.read_text())["to"] for p in environment.glob("*.json")}
    assert delivered == staged.addresses

    [report_json] = (tmp_path / "reports").glob("INC-*.json")
    [report_csv] = (tmp_path / "reports").glob("INC-*.csv")
    report = json.loads(report_json.read_text())
    assert report["incident"]["id"] == incident and report["counts"]["sent"] == 4
    assert len(report["organisations"]) == 2 and report["audit_chain"]["ok"] is True
    assert len(report_csv.read_text().splitlines()) == 5
    for text in (report_json.read_text(), report_csv.read_text()):
        assert not any(address in text for address in staged.addresses)

    assert cli.main(_declare(staged)) == 0
    assert "resumed" in capsys.readouterr().out
    assert len(list(environment.glob("*.json"))) == 4
    assert cli.main(["breach", "deliver", incident]) == 0
    assert "sent 0" in capsys.readouterr().out
    assert cli.main(["breach", "status", incident]) == 0
    assert "complete: every impacted user notified" in capsys.readouterr().out


def test_cli_declare_without_notifier_configuration_says_what_to_set(
    environment: Path, staged: Staged, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(settings.BREACH_NOTIFIER)
    monkeypatch.delenv(settings.BREACH_SENDER, raising=False)
    assert cli.main(_declare(staged)) == cli.EXIT_FAILED
    assert "set PLATFORM_BREACH_SENDER" in capsys.readouterr().err


def test_cli_declare_queue_only_then_deliver(environment: Path, staged: Staged,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*_declare(staged), "--no-deliver"]) == 0
    out = capsys.readouterr().out
    incident = out.split("declared: ")[1].split()[0]
    assert "pending 4" in out and not list(environment.glob("*.json"))
    assert cli.main(["breach", "deliver", incident]) == 0
    assert "sent 4" in capsys.readouterr().out


def test_cli_status_of_unknown_incident_is_one_line(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["breach", "status", str(uuid.uuid4())]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: no incident") and err.count("\n") == 1


def test_cli_time_without_zone_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["breach", "declare", "--from", "2026-11-02T08:00", "--to", "2026-11-02T09:00Z", "--summary", "x"])
    assert exit_.value.code == 2 and "has no zone" in capsys.readouterr().err


def test_cli_bad_actor_id_is_refused(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["breach", "declare", "--from", "2026-11-02T08:00Z", "--to", "2026-11-02T09:00Z", "--actors", "bob",
            "--summary", "x"]
    assert cli.main(argv) == cli.EXIT_FAILED
    assert "take ids" in capsys.readouterr().err


def test_cli_drill_runs_as_the_drill_role_without_the_master_secret_and_records_the_drill(
    environment: Path, fresh_db: PlatformDatabase, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Only the drill role's and the jobs role's passwords: no superuser, no master secret, no AWS call.
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("".join(f"*:*:*:{role}:{fresh_db.passwords[role]}\n" for role in (DRILL_ROLE, JOBS_ROLE)))
    monkeypatch.delenv(settings.DATABASE_ADMIN_SECRET_ID, raising=False)

    def clients(service: str) -> Any:
        raise AssertionError(f"the drill called AWS ({service})")

    monkeypatch.setattr(breach_cli, "make_wiring", lambda env: BreachWiring.from_environment(env, clients))
    code = cli.main(["breach", "drill", "--organisations", "6", "--attacked", "3", "--record-dir", "drills"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "breach drill" in out and "PASSED" in out and "first recorded breach drill" in out
    assert len(list((tmp_path / "drills").glob("breach-drill-*.json"))) == 1
    with fresh_db.connect(JOBS_ROLE) as conn:
        assert conn.execute("SELECT count(*) FROM platform.lifecycle_drills WHERE passed").fetchone() == (1,)
