"""Over HTTP: no credentials or forged ones get the same opaque 401, in bearer mode and behind the ALB (P3)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from runtime.audit.chain import ChainKey
from runtime.service.app import create_app
from runtime.service.auth import ALB_HEADER, AlbOidcAuthenticator, CachingAuthenticator, ClaimResolver
from runtime.service.context import ServiceContext
from runtime.service.identity import Identities
from tests.runtime.service.conftest import Org
from tests.support.tokens import TokenIssuer

SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-test/0123456789abcdef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _public(answer: Any) -> tuple[int, str, str | None]:
    """Everything the caller learns, but the request id (which differs per request anyway)."""
    document = answer.json()
    document.pop("request_id")
    return answer.status_code, json.dumps(document, sort_keys=True), answer.headers.get("www-authenticate")


def _forged_bearer(issuer: TokenIssuer, org: Org) -> dict[str, str]:
    other = TokenIssuer.generate()  # same kid, another key: a forged signature
    now = int(time.time())
    claims = {"iss": issuer.issuer, "aud": issuer.audience, "sub": org.user, "org_id": str(org.id), "iat": now,
              "exp": now + 300}
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "none": "",
        "basic": "Basic dXNlcjpwYXNz",
        "garbage": "Bearer not.a.jwt",
        "wrong_signer": f"Bearer {other.token(org.user, org.id)}",
        "expired": f"Bearer {issuer.token(org.user, org.id, exp=now - 3600)}",
        "wrong_audience": f"Bearer {issuer.token(org.user, org.id, aud='another-api')}",
        "wrong_issuer": f"Bearer {issuer.token(org.user, org.id, iss='https://evil.example/')}",
        "alg_none": f"Bearer {_unsigned({'alg': 'none', 'kid': issuer.kid}, claims)}",
        # The public key used as an HMAC secret: the classic algorithm-confusion forgery.
        "hs256_with_public_key": "Bearer " + _unsigned({"alg": "HS256", "kid": issuer.kid}, claims) + _b64(public_pem),
        "no_organisation": f"Bearer {issuer.token(org.user, None)}",
        "organisation_not_an_id": f"Bearer {issuer.token(org.user, 'acme-corp')}",
    }


def test_authentication_bad_bearer_credentials_get_one_opaque_401(
    client: TestClient, issuer: TokenIssuer, org_a: Org
) -> None:
    record = client.post("/v1/prompts", json={"body": "mine"}, headers=org_a.headers).json()["id"]
    answers = {}
    for case, value in _forged_bearer(issuer, org_a).items():
        headers = {"Authorization": value} if value else {}
        for method, path in (("GET", f"/v1/prompts/{record}"), ("POST", "/v1/prompts"), ("GET", "/v1/prompts")):
            answer = client.request(method, path, headers=headers, json={"body": "x"} if method == "POST" else None)
            answers[(case, method, path)] = _public(answer)
    expected = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "authentication required"}
    assert set(answers.values()) == {(401, json.dumps(expected, sort_keys=True), "Bearer")}


def test_authentication_every_owner_operation_requires_a_caller(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, operations in paths.items():
        if path in ("/healthz", "/readyz"):
            assert all("security" not in op for op in operations.values())
            continue
        for method, operation in operations.items():
            assert operation["security"] == [{"bearer": []}]
            url = path.replace("{record_id}", str(uuid.uuid4()))
            answer = client.request(method.upper(), url, json={"unknown": object.__name__})
            assert answer.status_code == 401, (method, path)
            checked += 1
    assert checked >= 6 * 5 + 2


@pytest.fixture(scope="module")
def alb_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def alb_client(
    owner_context: ServiceContext, alb_key: ec.EllipticCurvePrivateKey, service_chain_key: ChainKey
) -> Iterator[TestClient]:
    pem = alb_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    keys = {"kid-1": pem.decode()}
    alb = AlbOidcAuthenticator(expected_signer_arn=SIGNER, public_key=keys.__getitem__, resolve=ClaimResolver())
    context = dataclasses.replace(  # the same pools and data layer, behind the load balancer's sign-in
        owner_context, authenticator=CachingAuthenticator(alb, header=ALB_HEADER), authenticate_in_thread=True,
        www_authenticate=None, closers=(),
        identities=Identities(service_chain_key, source="alb-oidc"),
    )
    with TestClient(create_app(context), raise_server_exceptions=False) as test_client:
        yield test_client


def _alb_token(key: Any, org: uuid.UUID, *, signer: str = SIGNER, kid: str = "kid-1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "alb-user", "org_id": str(org), "exp": now + 120, "iss": "https://idp.example/", **claims}
    token = jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid, "signer": signer, "client": "c"})
    return ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))  # the ALB pads its segments


def test_authentication_alb_signed_header_reaches_the_owners_data(
    alb_client: TestClient, client: TestClient, issuer: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    org = uuid.uuid4()
    headers = {ALB_HEADER: _alb_token(alb_key, org)}
    assert alb_client.put("/v1/organisation", json={"name": "ALB org"}, headers=headers).status_code == 201
    created = alb_client.post("/v1/prompts", json={"body": "through the load balancer"}, headers=headers)
    assert created.status_code == 201
    for _ in range(2):  # the second time from the cache of verified credentials
        read = alb_client.get(f"/v1/prompts/{created.json()['id']}", headers=headers)
        assert read.json()["body"] == "through the load balancer"
    # The same organisation through a bearer token (another identity source) sees the same record.
    assert client.get(f"/v1/prompts/{created.json()['id']}", headers=issuer.headers("someone", org)).status_code == 200


def test_authentication_forged_alb_headers_get_one_opaque_401(
    alb_client: TestClient, issuer: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    org = uuid.uuid4()
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    forged = {
        "missing": None,
        "other_load_balancer": _alb_token(alb_key, org, signer=SIGNER.replace("platform-test", "evil")),
        "wrong_key": _alb_token(other, org),
        "unknown_kid": _alb_token(alb_key, org, kid="kid-9"),
        "expired": _alb_token(alb_key, org, exp=now - 3600),
        "alg_none": _unsigned({"alg": "none", "kid": "kid-1", "signer": SIGNER}, {"sub": "x", "exp": now + 60}),
        "bearer_instead": None,
    }
    seen = set()
    for case, token in forged.items():
        headers = {ALB_HEADER: token} if token else {}
        if case == "bearer_instead":
            headers = issuer.headers("alb-user", org)
        seen.add(_public(alb_client.get("/v1/prompts", headers=headers)))
    assert len(seen) == 1
    status, document, challenge = seen.pop()
    assert status == 401 and challenge is None and json.loads(document)["detail"] == "authentication required"
