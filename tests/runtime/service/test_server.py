"""The real server on 127.0.0.1: HTTPS it terminates itself (HIPAA mode, P5), and `python -m runtime serve`."""

from __future__ import annotations

import base64
import dataclasses
import gc
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import APIRouter
from fastapi.testclient import TestClient

from runtime import cli, settings
from runtime.db.schema import APP_ROLE
from runtime.service.app import create_app
from runtime.service.config import ServiceConfig, TlsSettings
from runtime.service.context import OwnerDataDep, OwnerScopeDep, ServiceContext
from runtime.service.server import YOUNG_COLLECTION_OBJECTS, uvicorn_config
from runtime.service.server import run as run_server
from runtime.service.tls import self_signed
from tests.runtime.service.conftest import Org
from tests.support.platform_db import PlatformDatabase
from tests.support.postgres import free_port
from tests.support.tokens import TokenIssuer


@pytest.fixture(scope="module")
def https_server(owner_context: ServiceContext, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), common_name="localhost")
    port = free_port()
    config = ServiceConfig(  # only the fields the server reads; the context is the session's
        mode=owner_context.mode, environment="test", database=None, auth=None, chain_key=None,  # type: ignore[arg-type]
        host="127.0.0.1", port=port, tls=TlsSettings(cert_file=cert, key_file=key),
    )
    server = uvicorn.Server(uvicorn_config(create_app(owner_context), config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"https://localhost:{port}", cert
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_server_terminates_tls_and_serves_the_owner_api(https_server: tuple[str, Path], org_a: Org) -> None:
    base, cert = https_server
    with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        created = http.post("/v1/prompts", json={"body": "over TLS"}, headers=org_a.headers)
        assert created.status_code == 201
        assert http.get(f"/v1/prompts/{created.json()['id']}", headers=org_a.headers).json()["body"] == "over TLS"
        assert "server" not in http.get("/healthz").headers


def test_server_refuses_tls_below_1_2(https_server: tuple[str, Path]) -> None:
    base, cert = https_server
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
        old = ssl.create_default_context(cafile=str(cert))
        old.set_ciphers("ALL:@SECLEVEL=0")  # this client would speak TLS 1.1; the server must not
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with httpx.Client(base_url=base, verify=old, timeout=5) as http, pytest.raises(httpx.ConnectError):
        http.get("/healthz")
    current = ssl.create_default_context(cafile=str(cert))
    current.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(base_url=base, verify=current, timeout=5) as http:
        assert http.get("/healthz").status_code == 200


def test_server_refuses_plaintext_http(https_server: tuple[str, Path]) -> None:
    base, _ = https_server
    with httpx.Client(base_url=base.replace("https://", "http://"), timeout=5) as http:
        try:
            answer = http.get("/healthz")
        except httpx.HTTPError:
            return
    assert answer.status_code >= 400, "the TLS port answered plaintext HTTP"


def test_server_extra_routers_reach_the_caller_and_the_data_layer(
    owner_context: ServiceContext, org_a: Org
) -> None:
    extension = APIRouter(prefix="/v1/extension", tags=["extension"])

    @extension.get("/whoami")
    def whoami(principal: OwnerScopeDep, data: OwnerDataDep) -> dict[str, str]:
        with data.database.owner_transaction(principal) as tx:
            [organisation] = data.records.get(tx, "organisations", [principal.owner_id])
        return {"owner": str(organisation.id)}

    with TestClient(create_app(owner_context, routers=[extension])) as http:
        assert http.get("/v1/extension/whoami", headers=org_a.headers).json() == {"owner": str(org_a.id)}
        assert http.get("/v1/extension/whoami").status_code == 401
        assert http.get("/openapi.json").json()["paths"]["/v1/extension/whoami"]["get"]["security"]


def _environment(db: PlatformDatabase, issuer: TokenIssuer, tmp_path: Path) -> dict[str, str]:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{db.cluster.port}:{db.dbname}:{APP_ROLE}:{db.password(APP_ROLE).password()}\n")
    pgpass.chmod(0o600)
    return {
        "PGPASSFILE": str(pgpass),  # libpq's own password file: the local stand-in for IAM tokens
        settings.ENVIRONMENT: "test",
        settings.SERVICE_MODE: "owner",
        settings.LOCAL_MASTER_KEY: base64.b64encode(os.urandom(32)).decode(),
        settings.DATABASE_HOST: "127.0.0.1",
        settings.DATABASE_PORT: str(db.cluster.port),
        settings.DATABASE_NAME: db.dbname,
        settings.DATABASE_USER: APP_ROLE,
        settings.DATABASE_IAM_AUTH: "false",
        settings.DATABASE_CA_BUNDLE: str(db.cluster.ca_file),
        settings.AUDIT_CHAIN_KEY: "c" * 64,
        settings.AUTH_MODE: "bearer-jwt",
        settings.JWT_ISSUER: issuer.issuer,
        settings.JWT_AUDIENCE: issuer.audience,
        settings.JWT_JWKS: json.dumps(issuer.jwks()),
    }


def test_serve_check_connects_and_passes_the_self_check(
    platform_db: PlatformDatabase, issuer: TokenIssuer, tmp_path: Path
) -> None:
    env = {**os.environ, **_environment(platform_db, issuer, tmp_path)}
    done = subprocess.run([sys.executable, "-m", "runtime", "serve", "--check"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "ready to serve: data API, owner mode" in done.stdout


def test_serve_bad_settings_stop_start_up_with_one_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("PLATFORM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(settings.SERVICE_MODE, "owner")
    assert cli.main(["serve"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("error: the service cannot start; fix these settings")
    assert settings.DATABASE_HOST in err and settings.ENVIRONMENT in err and "Traceback" not in err


def test_run_freezes_what_start_up_loaded(owner_context: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app and libraries are frozen before serving: requests' garbage collections never walk them (a batch of
    900 records allocates thousands of objects; walking the whole heap cost ~8 us of CPU per record), and young
    collections come every YOUNG_COLLECTION_OBJECTS allocations."""
    when_serving: list[tuple[int, int]] = []  # (objects frozen, young collection threshold)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: when_serving.append(
        (gc.get_freeze_count(), gc.get_threshold()[0])))
    threshold = gc.get_threshold()
    monkeypatch.setattr(sys, "setswitchinterval", lambda interval: None)  # the test process keeps its own
    config = ServiceConfig(  # only the fields the server reads; the context is the session's, left open
        mode=owner_context.mode, environment="test", database=None, auth=None, chain_key=None,  # type: ignore[arg-type]
        host="127.0.0.1", port=free_port(), tls=None,
    )
    assert gc.get_freeze_count() == 0
    try:
        run_server(config, context=dataclasses.replace(owner_context, closers=()))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    [(frozen, young)] = when_serving
    assert frozen > 10_000
    assert young == YOUNG_COLLECTION_OBJECTS > threshold[0]


def test_server_runs_on_uvloop_and_httptools(owner_context: ServiceContext) -> None:
    """Named, never "auto": a missing package must stop the start, not fall back to the slow pure-Python ones."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = ServiceConfig(  # only the fields the server reads
        mode=owner_context.mode, environment="test", database=None, auth=None, chain_key=None,  # type: ignore[arg-type]
        host="127.0.0.1", port=free_port(), tls=None,
    )
    server_config = uvicorn_config(create_app(owner_context), config)
    assert server_config.loop == "uvloop" and server_config.http_protocol_class is HttpToolsProtocol
    assert server_config.ws_protocol_class is None
