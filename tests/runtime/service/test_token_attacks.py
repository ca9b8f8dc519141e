"""Crafted tokens against the running app: whatever a token's header or payload holds, the answer is the
same opaque 401 (never a 5xx), and nothing the client sent reaches the log (P3, P7)."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.tokens import TokenIssuer

MARKER = "ZZMARKERZZ"
OPAQUE = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "authentication required"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _crafted(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"\x01" * 64) -> str:
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)))


def _claims(issuer: TokenIssuer, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer.issuer, "aud": issuer.audience, "sub": "u", "org_id": "o", "iat": now, "exp": now + 60,
            **extra}


def _opaque_401(answer: Any) -> None:
    assert answer.status_code == 401, answer.text
    document = answer.json()
    document.pop("request_id", None)
    assert document == OPAQUE


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "PS256", "PS384", "EdDSA", "HS256", "none"])
def test_bearer_alg_of_another_family_on_the_rsa_kid_gets_401_not_500(
    client: TestClient, issuer: TokenIssuer, alg: str
) -> None:
    token = _crafted({"alg": alg, "kid": issuer.kid, "typ": "JWT"}, _claims(issuer))
    _opaque_401(client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"}))


def test_bearer_refused_alg_is_not_written_to_the_log(
    client: TestClient, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = _crafted({"alg": f"{MARKER}-alg", "kid": issuer.kid}, _claims(issuer))
    with caplog.at_level(logging.DEBUG):
        _opaque_401(client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"}))
    assert "authentication refused" in caplog.text
    assert MARKER not in caplog.text
