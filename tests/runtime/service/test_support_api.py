"""Support mode (P4): NOT_SENSITIVE views only, through the support role; nothing else is routed."""

from __future__ import annotations

import dataclasses
import os

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from runtime.audit.chain import ChainKey
from runtime.db.errors import translated
from runtime.db.schema import APP_ROLE, SUPPORT_ROLE
from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError, PermissionDeniedError, SelfCheckError
from runtime.service.app import create_app
from runtime.service.context import ServiceContext
from runtime.service.wiring import build_context
from tests.runtime.service.conftest import Org, service_config
from tests.support.audit_trail import sequence
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

CANARY = "SUPPORT-CANARY-5be1"


@pytest.fixture(scope="module")
def staff(staff_issuer: TokenIssuer) -> dict[str, str]:
    return staff_issuer.staff_headers("support-engineer-7")  # staff belong to no organisation


def test_support_api_serves_the_audit_trail_without_payloads(
    client: TestClient, support_client: TestClient, org_a: Org, staff: dict[str, str], platform_db: PlatformDatabase
) -> None:
    created = client.post("/v1/datasets", json={"name": CANARY, "description": CANARY}, headers=org_a.headers)
    assert created.status_code == 201
    sequence(platform_db)  # the sequencer service chains the queued events
    head = support_client.get("/support/v1/audit-chain-head", headers=staff)
    assert head.status_code == 200 and head.json()["seq"] >= 1 and len(head.json()["hash"]) == 64
    after = max(0, head.json()["seq"] - 5)
    events = support_client.get("/support/v1/audit-events", params={"after": after, "limit": 10},
                                headers=staff).json()["items"]
    assert events and all(set(e) == {"id", "at", "event", "actor_id", "owner_id", "fields", "prev_hash", "hash"}
                          for e in events)
    assert any(created.json()["id"] in e["fields"]["row_ids"] for e in events)
    for path in ("/support/v1/audit-events", "/support/v1/audit-checkpoints", "/support/v1/telemetry-events"):
        answer = support_client.get(path, headers=staff)
        assert answer.status_code == 200 and isinstance(answer.json()["items"], list)
        assert CANARY not in answer.text


def test_support_api_routes_nothing_but_views_and_probes(support_client: TestClient, staff: dict[str, str]) -> None:
    paths = set(support_client.get("/openapi.json").json()["paths"])
    assert paths == {"/healthz", "/readyz", "/support/v1/audit-events", "/support/v1/audit-chain-head",
                     "/support/v1/audit-checkpoints", "/support/v1/telemetry-events"}
    for path in ("/v1/organisation", "/v1/model-calls", "/v1/prompts"):
        assert support_client.get(path, headers=staff).status_code == 404
        assert support_client.post(path, json={"input": "x"}, headers=staff).status_code in (404, 405)


def test_support_api_is_not_routed_in_owner_mode(client: TestClient, org_a: Org) -> None:
    assert client.get("/support/v1/audit-events", headers=org_a.headers).status_code == 404
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/support")]


def test_support_api_requires_authentication(support_client: TestClient, staff_issuer: TokenIssuer) -> None:
    other = TokenIssuer.generate_staff()  # the staff IdP's issuer and audience, another key: forged
    for headers in ({}, other.staff_headers("support-engineer-7"), {"Authorization": "Bearer x.y.z"}):
        answer = support_client.get("/support/v1/audit-events", headers=headers)
        assert answer.status_code == 401 and answer.json()["detail"] == "authentication required"


def test_support_role_cannot_read_sensitive_tables(support_context: ServiceContext) -> None:
    assert support_context.support is not None
    with support_context.support.connection() as conn, pytest.raises(PermissionDeniedError), translated():
        conn.execute("SELECT input FROM platform.model_calls LIMIT 1")


def test_support_mode_refuses_to_start_with_a_role_that_can_read_sensitive_data(
    platform_db: PlatformDatabase, staff_issuer: TokenIssuer
) -> None:
    """The app role in support mode: the self-check finds its privileges on SENSITIVE tables (P4)."""
    config = service_config(platform_db, staff_issuer, ChainKey(os.urandom(32)), ServiceMode.SUPPORT,
                            database=platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=1))
    with pytest.raises(SelfCheckError, match="SENSITIVE table"):
        build_context(config, passwords=platform_db.password(APP_ROLE))


def test_owner_mode_refuses_to_start_as_a_superuser(platform_db: PlatformDatabase, issuer: TokenIssuer) -> None:
    config = service_config(platform_db, issuer, ChainKey(os.urandom(32)), ServiceMode.OWNER,
                            database=platform_db.settings("postgres", pool_min_size=1, pool_max_size=1))
    with pytest.raises(SelfCheckError, match="superuser"):
        build_context(config, passwords=platform_db.password("postgres"))


def test_support_mode_refuses_extra_routers(support_context: ServiceContext) -> None:
    with pytest.raises(ConfigurationError, match="NOT_SENSITIVE"):
        create_app(support_context, routers=[APIRouter()])


def test_support_mode_starts_with_the_support_role(
    platform_db: PlatformDatabase, staff_issuer: TokenIssuer
) -> None:
    config = service_config(platform_db, staff_issuer, ChainKey(os.urandom(32)), ServiceMode.SUPPORT,
                            database=platform_db.settings(SUPPORT_ROLE, pool_min_size=1, pool_max_size=1))
    context = build_context(config, passwords=platform_db.password(SUPPORT_ROLE))
    try:
        assert context.owner is None and context.support is not None
        assert dataclasses.asdict(context.readiness.check()) == {"ready": True, "reason": ""}
    finally:
        context.close()
