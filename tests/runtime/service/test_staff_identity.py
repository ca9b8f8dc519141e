"""Staff identity (P4): the support API serves the staff IdP's tokens with the staff role and nothing else,
and the owner API (lifecycle routes included) never serves a staff token. Every refusal is the 401 of a
missing credential, on every route the apps describe, so a new route is covered without editing this file."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.db.self_check import ServiceMode
from runtime.service.app import create_app
from runtime.service.context import ServiceContext
from runtime.service.wiring import authenticator, service_routers
from tests.runtime.service.conftest import Org, service_config
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import DEV_STAFF_CLAIM, DEV_STAFF_ROLE, TokenIssuer

PROBES = ("/healthz", "/readyz")
ADMIN = {settings.DEFAULT_AUTH_ADMIN_CLAIM: [settings.DEFAULT_AUTH_ADMIN_ROLE]}
STAFF_ROLE = {DEV_STAFF_CLAIM: [DEV_STAFF_ROLE]}


def _operations(http: TestClient) -> list[tuple[str, str]]:
    """Every operation the app describes but the probes, its path parameters filled in."""
    found: list[tuple[str, str]] = []
    for path, operations in http.get("/openapi.json").json()["paths"].items():
        if path in PROBES:
            continue
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        found.extend((method.upper(), url) for method in operations)
    return found


def _send(http: TestClient, method: str, url: str, headers: dict[str, str]) -> Any:
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return http.request(method, url, headers=headers, json=body, params={"limit": 1000} if method == "GET" else None)


def _public(answer: Any) -> tuple[int, str, str | None]:
    """Everything the caller learns, but the request id (which differs per request anyway)."""
    document = answer.json()
    document.pop("request_id", None)
    return answer.status_code, json.dumps(document, sort_keys=True), answer.headers.get("www-authenticate")


def _refusals(http: TestClient, credentials: dict[str, dict[str, str]]) -> dict[tuple[str, str, str], Any]:
    return {(case, method, url): _public(_send(http, method, url, headers))
            for method, url in _operations(http) for case, headers in credentials.items()}


def _unauthenticated(http: TestClient) -> tuple[int, str, str | None]:
    method, url = _operations(http)[0]
    refusal = _public(_send(http, method, url, {}))
    assert refusal[0] == 401
    return refusal


@pytest.fixture(scope="module")
def lifecycle_client(platform_db: PlatformDatabase, issuer: TokenIssuer, service_chain_key: ChainKey,
                     owner_context: ServiceContext) -> Iterator[TestClient]:
    """The owner app as `serve` mounts it: the owner API and the lifecycle routes."""
    config = service_config(platform_db, issuer, service_chain_key, ServiceMode.OWNER)
    with TestClient(create_app(owner_context, routers=service_routers(config)),
                    raise_server_exceptions=False) as http:
        yield http


def _customer_tokens(issuer: TokenIssuer, staff_issuer: TokenIssuer, org: Org) -> dict[str, dict[str, str]]:
    """Credentials that are valid on the owner API, or a customer IdP's attempts at a staff token."""
    return {
        "member": org.headers,
        "admin": issuer.headers(org.user, org.id, **ADMIN),
        # The customer IdP adds the staff claim and role: still the customer IdP's token.
        "member_with_staff_role": issuer.headers(org.user, org.id, **STAFF_ROLE),
        "no_organisation_with_staff_role": issuer.headers(org.user, None, **STAFF_ROLE),
        # ... and names the staff IdP as its issuer and audience, signed with its own key under its own kid.
        "posing_as_staff_idp": issuer.headers(org.user, None, iss=staff_issuer.issuer, aud=staff_issuer.audience,
                                              **STAFF_ROLE),
    }


def test_support_routes_owner_token_gets_the_refusal_of_no_credential(
    support_client: TestClient, issuer: TokenIssuer, staff_issuer: TokenIssuer, org_a: Org
) -> None:
    """The finding: `GET /support/v1/audit-events?limit=1000` with a member's token answered 200."""
    operations = _operations(support_client)
    assert ("GET", "/support/v1/audit-events") in operations and len(operations) >= 4
    answers = _refusals(support_client, _customer_tokens(issuer, staff_issuer, org_a))
    assert set(answers.values()) == {_unauthenticated(support_client)}


def test_support_routes_staff_token_is_served(support_client: TestClient, staff_issuer: TokenIssuer) -> None:
    staff = staff_issuer.staff_headers("support-engineer-7")
    for method, url in _operations(support_client):
        assert _send(support_client, method, url, staff).status_code == 200, (method, url)


@pytest.mark.parametrize(
    "claims",
    [{}, {DEV_STAFF_CLAIM: ["reader"]}, {DEV_STAFF_CLAIM: DEV_STAFF_ROLE.upper()}, {"org_roles": [DEV_STAFF_ROLE]}],
    ids=["no_role", "other_role", "role_in_other_case", "role_in_other_claim"],
)
def test_support_routes_staff_idp_token_without_the_staff_role_is_refused(
    support_client: TestClient, staff_issuer: TokenIssuer, claims: dict[str, Any]
) -> None:
    headers = staff_issuer.headers("support-engineer-7", None, **claims)
    assert set(_refusals(support_client, {"token": headers}).values()) == {_unauthenticated(support_client)}


def test_owner_and_lifecycle_routes_staff_token_gets_the_refusal_of_no_credential(
    lifecycle_client: TestClient, issuer: TokenIssuer, staff_issuer: TokenIssuer, org_a: Org
) -> None:
    operations = _operations(lifecycle_client)
    assert any(url.startswith("/v1/lifecycle/") for _, url in operations)
    assert any(url == "/v1/organisation" for _, url in operations)
    credentials = {
        "staff": staff_issuer.staff_headers("support-engineer-7"),
        # A staff token that names an organisation: still the staff IdP's issuer, audience and key.
        "staff_with_organisation": staff_issuer.headers("support-engineer-7", org_a.id, **STAFF_ROLE, **ADMIN),
        # The customers' IdP's own staff-only token (no organisation): never an owner.
        "staff_only_from_customer_idp": issuer.headers("support-engineer-7", None, **STAFF_ROLE),
    }
    answers = _refusals(lifecycle_client, credentials)
    assert set(answers.values()) == {_unauthenticated(lifecycle_client)}
    assert lifecycle_client.get("/v1/organisation", headers=org_a.headers).status_code == 200  # the control


def test_support_routes_owner_authenticator_still_serves_no_customer(
    support_context: ServiceContext, platform_db: PlatformDatabase, issuer: TokenIssuer, service_chain_key: ChainKey,
    org_a: Org, caplog: pytest.LogCaptureFixture,
) -> None:
    """Defence in depth: a support service wired with the owner's IdP and resolver (a misconfiguration)
    authenticates the customer, and the support routes' own staff check still refuses it."""
    owner_auth = service_config(platform_db, issuer, service_chain_key, ServiceMode.OWNER).auth
    misconfigured = dataclasses.replace(
        support_context, authenticator=authenticator(owner_auth, ServiceMode.OWNER), closers=())
    with TestClient(create_app(misconfigured), raise_server_exceptions=False) as http, caplog.at_level(logging.INFO):
        answers = _refusals(http, {"member": org_a.headers, "admin": issuer.headers(org_a.user, org_a.id, **ADMIN),
                                   "with_staff_role": issuer.headers(org_a.user, org_a.id, **STAFF_ROLE)})
        assert set(answers.values()) == {_unauthenticated(http)}
    assert "authentication refused: not_staff" in caplog.text


def test_support_routes_without_a_staff_rule_serve_nobody(
    support_context: ServiceContext, staff_issuer: TokenIssuer
) -> None:
    nobody = dataclasses.replace(support_context, staff=None, closers=())
    with TestClient(create_app(nobody), raise_server_exceptions=False) as http:
        answers = _refusals(http, {"staff": staff_issuer.staff_headers("support-engineer-7")})
        assert set(answers.values()) == {_unauthenticated(http)}
