"""The service on the real test cluster: an owner-mode app and a support-mode app, built by the service's
own wiring (pools, self-check, keyring, ledger), two development token issuers (the customers' and the
support staff's, as deployed: P4), and two organisations."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from runtime.audit.chain import ChainKey
from runtime.db.schema import APP_ROLE, SUPPORT_ROLE
from runtime.db.self_check import ServiceMode
from runtime.envelope import KeyMaterial, LocalKeyring
from runtime.service.app import create_app
from runtime.service.config import AuthMode, AuthSettings, ServiceConfig
from runtime.service.context import ServiceContext
from runtime.service.wiring import build_context
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import DEV_STAFF_CLAIM, DEV_STAFF_ROLE, TokenIssuer

with warnings.catch_warnings():  # Starlette's test client would like httpx2; the pinned httpx works the same
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    user: str
    headers: dict[str, str]


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    return TokenIssuer.generate()


@pytest.fixture(scope="session")
def staff_issuer() -> TokenIssuer:
    """The support staff's own IdP: the support app trusts it, and only it."""
    return TokenIssuer.generate_staff()


@pytest.fixture(scope="session")
def service_chain_key() -> ChainKey:
    return ChainKey(os.urandom(32))


def service_config(db: PlatformDatabase, issuer: TokenIssuer, chain_key: ChainKey, mode: ServiceMode,
                   **overrides: object) -> ServiceConfig:
    """Bearer tokens of `issuer`; in support mode its tokens with the staff role are support staff."""
    role = APP_ROLE if mode is ServiceMode.OWNER else SUPPORT_ROLE
    staff = {"staff_claim": DEV_STAFF_CLAIM, "staff_role": DEV_STAFF_ROLE} if mode is ServiceMode.SUPPORT else {}
    values: dict[str, object] = {
        "mode": mode,
        "environment": "test",
        "database": db.settings(role, pool_min_size=1, pool_max_size=6),
        "auth": AuthSettings(AuthMode.BEARER_JWT, jwt_issuer=issuer.issuer, jwt_audience=issuer.audience,
                             jwks=issuer.jwks(), **staff),
        "chain_key": chain_key,
        "host": "127.0.0.1",
        "local_keyring": LocalKeyring(KeyMaterial(os.urandom(32)), environment="test") if role == APP_ROLE else None,
    }
    values.update(overrides)
    return ServiceConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def owner_context(platform_db: PlatformDatabase, issuer: TokenIssuer,
                  service_chain_key: ChainKey) -> Iterator[ServiceContext]:
    config = service_config(platform_db, issuer, service_chain_key, ServiceMode.OWNER)
    context = build_context(config, passwords=platform_db.password(APP_ROLE))
    yield context
    context.close()


@pytest.fixture(scope="session")
def support_context(platform_db: PlatformDatabase, staff_issuer: TokenIssuer,
                    service_chain_key: ChainKey) -> Iterator[ServiceContext]:
    config = service_config(platform_db, staff_issuer, service_chain_key, ServiceMode.SUPPORT)
    context = build_context(config, passwords=platform_db.password(SUPPORT_ROLE))
    yield context
    context.close()


@pytest.fixture(scope="session")
def owner_app(owner_context: ServiceContext) -> FastAPI:
    return create_app(owner_context, max_body_bytes=131_072)


@pytest.fixture(scope="session")
def client(owner_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(owner_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def support_app(support_context: ServiceContext) -> FastAPI:
    return create_app(support_context)


@pytest.fixture(scope="session")
def support_client(support_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(support_app, raise_server_exceptions=False) as test_client:
        yield test_client


def register(client: TestClient, issuer: TokenIssuer, user: str) -> Org:
    org = Org(uuid.uuid4(), user, issuer.headers(user, uuid.uuid4()))
    org = Org(org.id, user, issuer.headers(user, org.id))
    answer = client.put("/v1/organisation", json={"name": f"{user}'s organisation"}, headers=org.headers)
    assert answer.status_code == 201, answer.text
    return org


@pytest.fixture(scope="session")
def org_a(client: TestClient, issuer: TokenIssuer) -> Org:
    return register(client, issuer, "alice@a.example")


@pytest.fixture(scope="session")
def org_b(client: TestClient, issuer: TokenIssuer) -> Org:
    return register(client, issuer, "bob@b.example")
