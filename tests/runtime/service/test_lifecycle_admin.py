"""The lifecycle routes as `serve` mounts them (owner mode only): the organisation's admin, by the configured
claim, may request an export or the erasure and follow its exports (P13: exports are the admin's alone);
members may follow the erasure; nobody else sees either."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError
from runtime.service.app import create_app
from runtime.service.auth import AdminRule, Caller
from runtime.service.config import ServiceConfig
from runtime.service.context import ServiceContext
from runtime.service.wiring import service_routers
from tests.runtime.service.conftest import Org, register, service_config
from tests.runtime.service.test_config import _deployed
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

ADMIN = {settings.DEFAULT_AUTH_ADMIN_CLAIM: ["member", settings.DEFAULT_AUTH_ADMIN_ROLE]}


@pytest.fixture(scope="module")
def lifecycle_client(platform_db: PlatformDatabase, issuer: TokenIssuer, service_chain_key: ChainKey,
                     owner_context: ServiceContext) -> Iterator[TestClient]:
    config = service_config(platform_db, issuer, service_chain_key, ServiceMode.OWNER)
    with TestClient(create_app(owner_context, routers=service_routers(config)),
                    raise_server_exceptions=False) as http:
        yield http


def _admin(issuer: TokenIssuer, org: Org) -> dict[str, str]:
    return issuer.headers(org.user, org.id, **ADMIN)


def test_admin_requests_and_follows_an_export_members_and_other_organisations_do_not(
    lifecycle_client: TestClient, issuer: TokenIssuer
) -> None:
    org = register(lifecycle_client, issuer, "carol@c.example")
    other = register(lifecycle_client, issuer, "dave@d.example")
    answer = lifecycle_client.post("/v1/lifecycle/exports", json={"format": "jsonl"}, headers=_admin(issuer, org))
    assert answer.status_code == 202, answer.text
    request = answer.json()
    assert request["status"] == "requested" and request["job_started"] is False  # the lifecycle job runs it
    seen = lifecycle_client.get(f"/v1/lifecycle/exports/{request['id']}", headers=_admin(issuer, org))
    assert seen.status_code == 200 and seen.json()["id"] == request["id"]
    assert [r["id"] for r in lifecycle_client.get("/v1/lifecycle/exports", headers=_admin(issuer, org)).json()] == [
        request["id"]]
    for member in (f"/v1/lifecycle/exports/{request['id']}", "/v1/lifecycle/exports"):  # a member: 403, no list
        refused = lifecycle_client.get(member, headers=org.headers)
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert lifecycle_client.get(f"/v1/lifecycle/exports/{request['id']}",
                                headers=_admin(issuer, other)).status_code == 404
    assert lifecycle_client.get("/v1/lifecycle/exports", headers=_admin(issuer, other)).json() == []


@pytest.mark.parametrize("claims", [
    {},  # no claim: never an admin
    {settings.DEFAULT_AUTH_ADMIN_CLAIM: ["member"]},
    {settings.DEFAULT_AUTH_ADMIN_CLAIM: "org-admins"},
    {settings.DEFAULT_AUTH_ADMIN_CLAIM: {"org-admin": True}},
    {"roles": [settings.DEFAULT_AUTH_ADMIN_ROLE]},  # the role under another claim
])
def test_non_admins_cannot_request_export_or_erasure(
    lifecycle_client: TestClient, issuer: TokenIssuer, org_a: Org, claims: dict[str, object]
) -> None:
    headers = issuer.headers(org_a.user, org_a.id, **claims)
    assert lifecycle_client.post("/v1/lifecycle/exports", json={"format": "csv"}, headers=headers).status_code == 403
    erase = {"confirm_organisation_id": str(org_a.id)}
    assert lifecycle_client.post("/v1/lifecycle/erasure", json=erase, headers=headers).status_code == 403
    assert lifecycle_client.post("/v1/lifecycle/exports", json={"format": "csv"}).status_code == 401
    assert lifecycle_client.get("/v1/lifecycle/erasure", headers=org_a.headers).status_code == 404  # none asked


def test_admin_of_one_organisation_cannot_erase_another(
    lifecycle_client: TestClient, issuer: TokenIssuer, org_a: Org, org_b: Org
) -> None:
    answer = lifecycle_client.post("/v1/lifecycle/erasure", json={"confirm_organisation_id": str(org_b.id)},
                                   headers=_admin(issuer, org_a))
    assert answer.status_code == 422  # the admin acts for its own organisation only
    assert lifecycle_client.get("/v1/lifecycle/erasure", headers=org_b.headers).status_code == 404


def test_support_mode_has_no_lifecycle_routes(
    support_client: TestClient, platform_db: PlatformDatabase, issuer: TokenIssuer, service_chain_key: ChainKey
) -> None:
    assert service_routers(service_config(platform_db, issuer, service_chain_key, ServiceMode.SUPPORT)) == []
    headers = issuer.headers("support@ops.example", None, **ADMIN)
    assert support_client.post("/v1/lifecycle/exports", json={"format": "csv"}, headers=headers).status_code == 404
    assert support_client.get("/v1/lifecycle/erasure", headers=headers).status_code == 404


def test_admin_rule_fails_closed() -> None:
    rule = AdminRule(claim="org_roles", role="org-admin")

    def who(**claims: object) -> Caller:
        return Caller("u", str(uuid.uuid4()), claims=claims)

    assert rule.allows(who(org_roles="org-admin")) and rule.allows(who(org_roles=["x", "org-admin"]))
    for denied in (who(), who(org_roles=None), who(org_roles=["org-admin-x"]), who(org_roles=[["org-admin"]]),
                   who(org_roles=1), who(other="org-admin")):
        assert not rule.allows(denied)
    assert "org_roles" not in repr(who(org_roles="org-admin"))  # claims are never logged with the principal


def test_admin_settings_default_and_refuse_bad_values(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not read by the config")
    auth = ServiceConfig.from_environment(_deployed(ca_file)).auth
    assert (auth.admin_claim, auth.admin_role) == ("org_roles", "org-admin")
    custom = _deployed(ca_file, **{settings.AUTH_ADMIN_CLAIM: "groups", settings.AUTH_ADMIN_ROLE: "Platform/Admins"})
    auth = ServiceConfig.from_environment(custom).auth
    assert (auth.admin_claim, auth.admin_role) == ("groups", "Platform/Admins")
    bad = _deployed(ca_file, **{settings.AUTH_ADMIN_CLAIM: "org roles", settings.AUTH_ADMIN_ROLE: "a b"})
    with pytest.raises(ConfigurationError) as raised:
        ServiceConfig.from_environment(bad)
    assert settings.AUTH_ADMIN_CLAIM in str(raised.value)
    with pytest.raises(ConfigurationError, match=settings.AUTH_ADMIN_ROLE):
        ServiceConfig.from_environment(_deployed(ca_file, **{settings.AUTH_ADMIN_ROLE: "org-admin, owner"}))
