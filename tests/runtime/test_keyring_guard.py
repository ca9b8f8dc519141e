"""The keyring guard at every entry point (issue 13): the service and every job command that decrypts refuse a
local keyring outside local/test and refuse KMS plus a local key together, with one message naming the
variables, before any connection is opened. Commands that never decrypt (restore, audit, db) choose no keyring.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime import cli, settings
from runtime.envelope import AwsKmsKeyring, KeyMaterial, LocalKeyring
from runtime.errors import ConfigurationError
from runtime.service.config import ServiceConfig
from runtime.wiring.keyring import KeyringChoice, choose_keyring

KMS_KEY = "arn:aws:kms:eu-west-1:111111111111:key/abc"
LOCAL_KEY = base64.b64encode(os.urandom(32)).decode()
SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-prod/0123456789abcdef"
ORG = str(uuid.uuid4())
LOCAL_OUTSIDE = "the local keyring is for local runs and tests only"
BOTH = "not both"

# (environment, keyring variables, what the refusal says)
UNSAFE = [
    pytest.param("prod", {settings.LOCAL_MASTER_KEY: LOCAL_KEY}, LOCAL_OUTSIDE, id="local-key-in-prod"),
    pytest.param("dev", {settings.LOCAL_MASTER_KEY_FILE: "/run/master.key"}, LOCAL_OUTSIDE, id="local-file-in-dev"),
    pytest.param("prod", {settings.KMS_APPLICATION_KEY_ID: KMS_KEY, settings.LOCAL_MASTER_KEY: LOCAL_KEY}, BOTH,
                 id="kms-and-local-in-prod"),
    pytest.param("test", {settings.KMS_APPLICATION_KEY_ID: KMS_KEY, settings.LOCAL_MASTER_KEY_FILE: "/k"}, BOTH,
                 id="kms-and-local-in-test"),
]
# Every command that builds a keyring, as `python -m runtime` runs it.
COMMANDS = [
    pytest.param(["serve"], id="serve"),
    pytest.param(["serve", "--check"], id="serve-check"),
    pytest.param(["breach", "declare", "--from", "2026-11-02T08:00Z", "--to", "2026-11-02T09:00Z", "--summary", "x"],
                 id="breach-declare"),
    pytest.param(["breach", "deliver", ORG], id="breach-deliver"),
    pytest.param(["breach", "status", ORG], id="breach-status"),
    pytest.param(["breach", "drill"], id="breach-drill"),
    pytest.param(["export", "--org", ORG, "--format", "csv", "--dest", "exports"], id="export"),
    pytest.param(["export", "status", "--org", ORG], id="export-status"),
    pytest.param(["erase", "--org", ORG], id="erase"),
    pytest.param(["erase", "verify", "--org", ORG], id="erase-verify"),
    pytest.param(["erase", "register"], id="erase-register"),
]


def _task_environment(ca_file: Path, environment: str, keyring: dict[str, str]) -> dict[str, str]:
    """What a task of the service stack sets (owner service and lifecycle job alike), with `keyring` instead of
    the KMS key. The database host does not resolve: a command that got past the guard would fail differently."""
    return {
        settings.ENVIRONMENT: environment,
        settings.SERVICE_MODE: "owner",
        settings.DATABASE_HOST: "db.invalid",
        settings.DATABASE_NAME: "platform",
        settings.DATABASE_USER: "platform_jobs",
        settings.DATABASE_IAM_AUTH: "true",
        settings.DATABASE_CA_BUNDLE: str(ca_file),
        settings.AUDIT_CHAIN_KEY: "k" * 64,
        settings.ALB_SIGNER_ARN: SIGNER,
        settings.LONGEST_BACKUP_RETENTION_DAYS: "35",
        settings.ERASURE_RECEIPT_KEY: "r" * 40,
        settings.BREACH_NOTIFIER: "file",
        settings.BREACH_NOTIFIER_DIR: str(ca_file.parent),
        settings.DATABASE_ADMIN_SECRET_ID: "db-master",
        "AWS_DEFAULT_REGION": "eu-west-1",
        **keyring,
    }


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("not read: the guard refuses before any connection")
    return path


@pytest.fixture
def task(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, dict[str, str]], None]:
    """Sets a task environment for the commands that read os.environ."""
    for name in (settings.KMS_APPLICATION_KEY_ID, settings.LOCAL_MASTER_KEY, settings.LOCAL_MASTER_KEY_FILE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ca_file.parent)

    def set_environment(environment: str, keyring: dict[str, str]) -> None:
        for name, value in _task_environment(ca_file, environment, keyring).items():
            monkeypatch.setenv(name, value)

    return set_environment


@pytest.mark.parametrize(("environment", "keyring", "refusal"), UNSAFE)
@pytest.mark.parametrize("argv", COMMANDS)
def test_command_unsafe_keyring_refused_before_connecting(
    task: Callable[[str, dict[str, str]], None], capsys: pytest.CaptureFixture[str], argv: list[str],
    environment: str, keyring: dict[str, str], refusal: str,
) -> None:
    task(environment, keyring)
    assert cli.main(argv) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert refusal in err, err
    assert settings.KMS_APPLICATION_KEY_ID in err and settings.LOCAL_MASTER_KEY in err


@pytest.mark.parametrize(("environment", "keyring", "refusal"), UNSAFE)
def test_service_config_unsafe_keyring_refused(
    ca_file: Path, environment: str, keyring: dict[str, str], refusal: str
) -> None:
    with pytest.raises(ConfigurationError, match=refusal) as raised:
        ServiceConfig.from_environment(_task_environment(ca_file, environment, keyring))
    assert settings.KMS_APPLICATION_KEY_ID in str(raised.value)


@pytest.mark.parametrize(("environment", "keyring", "refusal"), UNSAFE)
def test_choose_keyring_unsafe_settings_refused(environment: str, keyring: dict[str, str], refusal: str) -> None:
    with pytest.raises(ConfigurationError, match=refusal):
        choose_keyring({settings.ENVIRONMENT: environment, **keyring})


def test_python_m_runtime_local_keyring_in_prod_exits_1_with_the_guard(ca_file: Path) -> None:
    environ = {**os.environ, **_task_environment(ca_file, "prod", {settings.LOCAL_MASTER_KEY: LOCAL_KEY})}
    environ.pop(settings.KMS_APPLICATION_KEY_ID, None)
    done = subprocess.run([sys.executable, "-m", "runtime", "erase", "register"], env=environ, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1 and LOCAL_OUTSIDE in done.stderr, done.stderr


@pytest.mark.parametrize("environment", ["local", "test"])
def test_choose_keyring_local_key_in_local_or_test_is_the_local_keyring(environment: str) -> None:
    choice = choose_keyring({settings.ENVIRONMENT: environment, settings.LOCAL_MASTER_KEY: LOCAL_KEY})
    assert choice.kms_key_id is None and isinstance(choice.local, LocalKeyring)
    assert choice.keyring(lambda service: pytest.fail(f"built a {service} client")) is choice.local


def test_choose_keyring_kms_key_builds_the_kms_keyring_with_the_kms_client() -> None:
    asked: list[str] = []

    def clients(service: str) -> Any:
        asked.append(service)
        return object()

    choice = choose_keyring({settings.ENVIRONMENT: "qa", settings.KMS_APPLICATION_KEY_ID: KMS_KEY,
                             settings.KEYRING_MODE: "shared"})
    assert (choice.kms_key_id, choice.local, asked) == (KMS_KEY, None, [])  # chosen without a client
    keyring = choice.keyring(clients)
    assert isinstance(keyring, AwsKmsKeyring) and keyring.environment == "qa" and asked == ["kms"]


def test_choose_keyring_no_keyring_names_both_choices() -> None:
    with pytest.raises(ConfigurationError, match="needs a keyring") as raised:
        choose_keyring({settings.ENVIRONMENT: "prod"})
    assert settings.KMS_APPLICATION_KEY_ID in str(raised.value) and settings.LOCAL_MASTER_KEY in str(raised.value)


def test_choose_keyring_without_environment_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=settings.ENVIRONMENT):
        choose_keyring({settings.KMS_APPLICATION_KEY_ID: KMS_KEY})


def test_choose_keyring_unreadable_key_file_in_prod_refused_before_reading_it() -> None:
    """The guard comes first: a deployed task is told to use KMS, not to fix a key file it must not have."""
    with pytest.raises(ConfigurationError, match=LOCAL_OUTSIDE):
        choose_keyring({settings.ENVIRONMENT: "prod", settings.LOCAL_MASTER_KEY_FILE: "/does/not/exist"})


def test_keyring_choice_built_by_hand_keeps_the_guards() -> None:
    local = LocalKeyring(KeyMaterial(os.urandom(32)), environment="prod")
    with pytest.raises(ConfigurationError, match=LOCAL_OUTSIDE):
        KeyringChoice("prod", local=local)
    with pytest.raises(ConfigurationError, match=BOTH):
        KeyringChoice("test", kms_key_id=KMS_KEY, local=local)
    with pytest.raises(ConfigurationError, match="needs a keyring"):
        KeyringChoice("prod")
