"""runtime.wiring: the one AWS client factory (adaptive retries, timeouts, AWS_ENDPOINT_URL, built on first use
and kept per process), the one password source chooser, and every entry point using both."""

from __future__ import annotations

import ast
import inspect
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from runtime.breach.wiring import BreachWiring
from runtime.cli import export as export_cli
from runtime.cli import restore as restore_cli
from runtime.cli.wiring import connect_from_environment
from runtime.db.config import DatabaseSettings
from runtime.db.credentials import IamAuthToken, SecretsManagerPassword
from runtime.lifecycle.wiring import LifecycleWiring
from runtime.service.wiring import build_context
from runtime.wiring import clients as wiring_clients
from runtime.wiring.clients import AwsClients, aws_client, client_config
from runtime.wiring.passwords import password_source

REGION = "eu-west-1"
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def stand_in() -> Iterator[str]:
    """A moto server on a free local port: the local AWS stand-in of `make e2e`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


# --- the client factory ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["kms", "rds", "secretsmanager", "s3", "sesv2", "sns"])
def test_aws_client_any_service_retries_adaptively_with_timeouts(fake_credentials: None, service: str) -> None:
    config = AwsClients()(service).meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": wiring_clients.MAX_ATTEMPTS + 1}
    assert (config.connect_timeout, config.read_timeout) == (wiring_clients.CONNECT_TIMEOUT_SECONDS,
                                                            wiring_clients.READ_TIMEOUT_SECONDS)


def test_client_config_s3_signs_with_sigv4_others_default() -> None:
    assert client_config("s3").signature_version == "s3v4"
    assert client_config("kms").signature_version is None


def test_aws_client_endpoint_url_set_talks_to_the_stand_in(
    fake_credentials: None, stand_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stand_in)
    secrets = AwsClients()("secretsmanager")
    assert secrets.meta.endpoint_url == stand_in
    secrets.create_secret(Name="made-through-the-factory", SecretString="s3cret")
    direct = boto3.client("secretsmanager", region_name=REGION, endpoint_url=stand_in)
    assert direct.get_secret_value(SecretId="made-through-the-factory")["SecretString"] == "s3cret"


def test_aws_client_endpoint_url_unset_uses_the_regional_endpoint(fake_credentials: None) -> None:
    assert AwsClients()("kms").meta.endpoint_url == f"https://kms.{REGION}.amazonaws.com"


def test_aws_client_region_from_aws_region_when_default_region_unset(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert AwsClients()("kms").meta.region_name == "eu-central-1"


def test_aws_clients_same_service_twice_built_once(fake_credentials: None) -> None:
    clients = AwsClients()
    assert clients("kms") is clients("kms")
    assert clients("kms") is not clients("rds")


def test_aws_clients_endpoint_changed_builds_a_new_client(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = AwsClients()
    regional = clients("kms")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    local = clients("kms")
    assert local is not regional and local.meta.endpoint_url == "http://127.0.0.1:4566"
    clients.clear()
    assert clients("kms") is not local


def test_aws_wiring_import_builds_no_client_and_loads_no_boto3_or_fastapi() -> None:
    code = ("import sys, runtime.wiring.clients, runtime.aws_protocols, runtime.wiring.keyring, "
            "runtime.wiring.passwords; print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = {name.split(".")[0] for name in out.split()}
    assert not loaded & {"boto3", "botocore", "fastapi", "starlette"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_runtime_boto3_imported_only_by_the_client_factory() -> None:
    importing = {str(path.relative_to(RUNTIME)) for path in RUNTIME.rglob("*.py")
                 if _imports(path) & {"boto3", "botocore"}}
    assert importing == {"wiring/clients.py"}


def test_runtime_aws_client_protocols_defined_only_in_aws_protocols() -> None:
    defining = set()
    for path in RUNTIME.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = {getattr(base, "id", None) for base in getattr(node, "bases", [])}
            if isinstance(node, ast.ClassDef) and node.name.endswith("Client") and "Protocol" in bases:
                defining.add(str(path.relative_to(RUNTIME)))
    assert defining == {"aws_protocols.py"}


@pytest.mark.parametrize(
    ("entry_point", "factory"),
    [
        ("service build_context", lambda: inspect.signature(build_context).parameters["clients"].default),
        ("breach commands", lambda: inspect.signature(BreachWiring.from_environment).parameters["clients"].default),
        ("export and erase", lambda: inspect.signature(LifecycleWiring.from_environment).parameters["clients"].default),
        ("db and audit commands", lambda: inspect.signature(connect_from_environment).parameters["clients"].default),
        ("restore commands", lambda: restore_cli.make_clients),
        ("export to S3", lambda: export_cli.make_s3_client.func),
    ],
)
def test_entry_point_default_clients_are_the_one_factory(entry_point: str, factory: Callable[[], Any]) -> None:
    assert factory() is aws_client, entry_point


# --- the password source --------------------------------------------------------------------------------


class RecordingClients:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, service: str) -> Any:
        self.asked.append(service)
        return boto3.client(service, region_name=REGION)


@pytest.fixture
def ca_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("not read: no connection is opened")
    return path


def _db(ca_bundle: Path, **values: Any) -> DatabaseSettings:
    defaults: dict[str, Any] = {"host": "db.example.internal", "port": 5432, "dbname": "platform",
                                "user": "platform_jobs", "ca_bundle": ca_bundle}
    return DatabaseSettings(**{**defaults, **values})


def test_password_source_iam_auth_signs_a_token_for_the_user(fake_credentials: None, ca_bundle: Path) -> None:
    clients = RecordingClients()
    source = password_source(_db(ca_bundle, iam_auth=True, password_secret_id="db/pw"), clients)
    assert isinstance(source, IamAuthToken) and clients.asked == ["rds"]  # IAM wins over a secret
    token = source.password()
    assert token.startswith("db.example.internal:5432/?") and "DBUser=platform_jobs" in token


def test_password_source_secret_without_iam_reads_secrets_manager(fake_credentials: None, ca_bundle: Path) -> None:
    clients = RecordingClients()
    source = password_source(_db(ca_bundle, password_secret_id="db/pw"), clients)
    assert isinstance(source, SecretsManagerPassword) and clients.asked == ["secretsmanager"]


def test_password_source_neither_is_libpq_own_and_builds_no_client(ca_bundle: Path) -> None:
    clients = RecordingClients()
    assert password_source(_db(ca_bundle), clients) is None and clients.asked == []
