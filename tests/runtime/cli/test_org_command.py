"""`python -m runtime org ...` with the local per-organisation keyring, and the typed 503 of the service."""

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from runtime import cli, settings
from runtime.cli import org as org_cli
from runtime.envelope import OrganisationKeyUnavailableError
from runtime.service.problems import ORGANISATION_KEY_UNAVAILABLE, install

if TYPE_CHECKING:
    from tests.support.platform_db import PlatformDatabase


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(settings.ENVIRONMENT, "test")
    monkeypatch.setenv(settings.LOCAL_ORGANISATION_KEYS_DIR, str(tmp_path))
    for name in (settings.KMS_APPLICATION_KEY_ID, settings.APP_NAME, settings.LOCAL_MASTER_KEY,
                 settings.LOCAL_MASTER_KEY_FILE, settings.KEYRING_MODE, settings.TASK_COMMANDS):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_org_provision_keys_local_creates_one_key_file_each_idempotently(
    keys_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orgs = [str(uuid.uuid4()), str(uuid.uuid4())]
    assert cli.main(["org", "provision-keys", *orgs]) == 0
    assert cli.main(["org", "provision-keys", orgs[0]]) == 0
    assert sorted(p.name for p in keys_dir.iterdir()) == sorted(f"{o}.key" for o in orgs)
    assert cli.main(["org", "key-state", orgs[1]]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["state"] == "enabled"


def test_org_cancel_key_deletion_local_key_refused_and_not_audited(
    keys_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audited: list[uuid.UUID] = []
    monkeypatch.setattr(org_cli, "audit_cancel", lambda environ, owner, actor: audited.append(owner))
    assert cli.main(["org", "cancel-key-deletion", str(uuid.uuid4()), "--reason", "mistake"]) == cli.EXIT_FAILED
    assert "destroyed at once" in capsys.readouterr().err and audited == []


def test_org_commands_shared_mode_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(settings.ENVIRONMENT, "test")
    monkeypatch.setenv(settings.KEYRING_MODE, "shared")
    monkeypatch.setenv(settings.LOCAL_MASTER_KEY, "A" * 43 + "=")
    monkeypatch.delenv(settings.LOCAL_ORGANISATION_KEYS_DIR, raising=False)
    monkeypatch.delenv(settings.APP_NAME, raising=False)
    assert cli.main(["org", "key-state", str(uuid.uuid4())]) == cli.EXIT_FAILED
    assert "shared key" in capsys.readouterr().err


def test_problems_organisation_key_unavailable_is_one_typed_503() -> None:
    app = FastAPI()
    install(app, www_authenticate=None)

    @app.get("/boom")
    def boom() -> None:
        raise OrganisationKeyUnavailableError("key of organisation x disabled (arn...)", organisation="x",
                                              code="DisabledException")

    answer = TestClient(app).get("/boom")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    body = answer.json()
    assert body["type"] == ORGANISATION_KEY_UNAVAILABLE and "arn" not in body["detail"]


@pytest.mark.postgres
def test_org_register_key_policy_gap_prints_the_statements_then_a_good_key_registers(
    platform_db: "PlatformDatabase", kms_client: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.stub import Stubber

    from runtime.db import Database, open_pool
    from runtime.db.ledger import AuditLedger
    from runtime.db.organisation_keys import list_organisations
    from runtime.db.schema import JOBS_ROLE
    from runtime.envelope import KmsOrganisationKeys

    roles = ["arn:aws:iam::123456789012:role/adp-qa-data", "arn:aws:iam::123456789012:role/adp-qa-job"]
    pool = open_pool(platform_db.settings(JOBS_ROLE, pool_min_size=1, pool_max_size=2),
                     platform_db.password(JOBS_ROLE), name="register-key")

    class Wiring:
        database = Database(pool, AuditLedger())

        def close(self) -> None:
            pass

    monkeypatch.setattr(org_cli, "make_admin", lambda environ: KmsOrganisationKeys(
        client=kms_client, app="adp", environment="qa", user_role_arns=roles, admin_role_arn=roles[1]))
    monkeypatch.setattr(org_cli, "make_wiring", lambda environ: Wiring())
    monkeypatch.setattr(org_cli, "clients", lambda service: kms_client)
    org = str(uuid.uuid4())
    try:
        arn = str(kms_client.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"])
        kms_client.enable_key_rotation(KeyId=arn)
        with Stubber(kms_client) as stub:  # moto enforces no key policy: the refusal KMS gives without one
            stub.add_response("describe_key", {"KeyMetadata": {
                "KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled"}})
            stub.add_response("get_key_rotation_status", {"KeyRotationEnabled": True})
            stub.add_client_error("generate_data_key", "AccessDeniedException", "not authorized")
            assert cli.main(["org", "register-key", org, "--key-arn", arn]) == cli.EXIT_FAILED
        out, err = capsys.readouterr()
        statements = json.loads(out)
        assert "key-policy" in err and statements[0]["Principal"] == {"AWS": sorted(roles)}
        assert statements[0]["Condition"]["StringEquals"]["kms:EncryptionContext:organisation"] == org
        assert uuid.UUID(org) not in {r.owner_id for r in list_organisations(pool, source="customer")}
        assert cli.main(["org", "register-key", org, "--key-arn", arn]) == 0
        assert json.loads(capsys.readouterr().out) == {"organisation": org, "key_arn": arn, "registered": True}
        assert uuid.UUID(org) in {r.owner_id for r in list_organisations(pool, source="customer", state="active")}
    finally:
        pool.close()
