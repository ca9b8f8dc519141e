"""Authentication: the ALB's signed OIDC header and bearer JWTs; every failure is one opaque 401."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runtime.service.auth import (
    ALB_HEADER,
    PUBLIC_MESSAGE,
    AlbOidcAuthenticator,
    AuthenticationError,
    BearerJwtAuthenticator,
    ClaimResolver,
    Principal,
    Refusal,
    load_jwks,
)
from runtime.service.jwks import StaticJwks

SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/adp-dev/abc"
ISSUER, AUDIENCE = "https://idp.example.com/", "adp-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "user-1", "org_id": "org-a", "iat": now, "exp": now + 300, **extra}


@pytest.fixture(scope="module")
def alb_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _alb(alb_key: ec.EllipticCurvePrivateKey) -> AlbOidcAuthenticator:
    pem = alb_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    keys = {"kid-1": pem.decode()}
    return AlbOidcAuthenticator(expected_signer_arn=SIGNER, public_key=keys.__getitem__, resolve=ClaimResolver())


def _alb_token(key: Any, *, signer: str = SIGNER, kid: str = "kid-1", pad: bool = True, **claims: Any) -> str:
    token = jwt.encode(_claims(**claims), key, algorithm="ES256", headers={"kid": kid, "signer": signer})
    if pad:  # the load balancer pads its base64url segments
        token = ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))
    return token


def _bearer(rsa_key: rsa.RSAPrivateKey) -> BearerJwtAuthenticator:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = {"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}
    return BearerJwtAuthenticator(keys=StaticJwks(jwks), issuer=ISSUER, audience=AUDIENCE, resolve=ClaimResolver())


def _bearer_token(key: Any, *, kid: str = "idp-1", alg: str = "RS256", **claims: Any) -> str:
    return jwt.encode(_claims(**{"iss": ISSUER, "aud": AUDIENCE, **claims}), key, algorithm=alg, headers={"kid": kid})


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _rejected(authenticator: Any, headers: dict[str, str]) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as raised:
        authenticator.authenticate(headers)
    assert str(raised.value) == PUBLIC_MESSAGE  # nothing that helps an attacker
    return raised.value


def test_alb_valid_padded_header_maps_user_to_organisation(alb_key: ec.EllipticCurvePrivateKey) -> None:
    principal = _alb(alb_key).authenticate({ALB_HEADER: _alb_token(alb_key)})
    assert principal == Principal(user_id="user-1", organisation_id="org-a")


def test_alb_header_name_is_case_insensitive(alb_key: ec.EllipticCurvePrivateKey) -> None:
    assert _alb(alb_key).authenticate({"X-Amzn-Oidc-Data": _alb_token(alb_key, pad=False)}).user_id == "user-1"


@pytest.mark.parametrize(
    ("case", "reason"),
    [("missing", Refusal.NO_CREDENTIAL), ("other_signer", Refusal.WRONG_SIGNER), ("expired", Refusal.EXPIRED),
     ("wrong_key", Refusal.BAD_SIGNATURE), ("unknown_kid", Refusal.UNKNOWN_KID), ("alg_none", Refusal.MALFORMED),
     ("garbage", Refusal.MALFORMED), ("no_org", Refusal.NOT_AN_OWNER)],
)
def test_alb_bad_header_is_rejected(alb_key: ec.EllipticCurvePrivateKey, case: str, reason: Refusal) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    headers = {
        "missing": {},
        "other_signer": {ALB_HEADER: _alb_token(alb_key, signer=SIGNER.replace("abc", "evil"))},
        "expired": {ALB_HEADER: _alb_token(alb_key, exp=int(time.time()) - 3600)},
        "wrong_key": {ALB_HEADER: _alb_token(other)},
        "unknown_kid": {ALB_HEADER: _alb_token(alb_key, kid="kid-2")},
        "alg_none": {ALB_HEADER: _unsigned({"alg": "none", "kid": "kid-1", "signer": SIGNER}, _claims())},
        "garbage": {ALB_HEADER: "not.a.jwt"},
        "no_org": {ALB_HEADER: _alb_token(alb_key, org_id="")},
    }[case]
    assert _rejected(_alb(alb_key), headers).reason is reason  # the server log learns why, as a fixed code


def test_bearer_valid_token_maps_user_to_organisation(rsa_key: rsa.RSAPrivateKey) -> None:
    principal = _bearer(rsa_key).authenticate({"Authorization": f"Bearer {_bearer_token(rsa_key)}"})
    assert principal == Principal(user_id="user-1", organisation_id="org-a")


@pytest.mark.parametrize(
    ("case", "reason"),
    [("missing", Refusal.NO_CREDENTIAL), ("basic", Refusal.NO_CREDENTIAL), ("expired", Refusal.EXPIRED),
     ("wrong_audience", Refusal.WRONG_AUDIENCE), ("wrong_issuer", Refusal.WRONG_ISSUER),
     ("wrong_signer", Refusal.BAD_SIGNATURE), ("alg_none", Refusal.MALFORMED),
     ("hs256_confusion", Refusal.ALG_NOT_ALLOWED)],
)
def test_bearer_bad_token_is_rejected(rsa_key: rsa.RSAPrivateKey, case: str, reason: Refusal) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tokens = {
        "missing": "",
        "basic": "",
        "expired": _bearer_token(rsa_key, exp=int(time.time()) - 3600),
        "wrong_audience": _bearer_token(rsa_key, aud="someone-else"),
        "wrong_issuer": _bearer_token(rsa_key, iss="https://evil.example.com/"),
        "wrong_signer": _bearer_token(other),
        "alg_none": _unsigned({"alg": "none", "kid": "idp-1"}, _claims(iss=ISSUER, aud=AUDIENCE)),
        # Signing with the public key as an HMAC secret: the classic algorithm-confusion forgery.
        "hs256_confusion": _unsigned({"alg": "HS256", "kid": "idp-1"}, _claims(iss=ISSUER, aud=AUDIENCE))[:-1]
        + "."
        + _b64(public_pem),
    }
    headers = {"Authorization": f"Bearer {tokens[case]}"} if case not in ("missing", "basic") else {}
    if case == "basic":
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert _rejected(_bearer(rsa_key), headers).reason is reason


def test_bearer_refuses_symmetric_keys_at_configuration() -> None:
    jwks = {"keys": [{"kty": "oct", "k": _b64(b"secret"), "kid": "x", "alg": "HS256"}]}
    with pytest.raises(ValueError, match="secret key material"):
        StaticJwks(jwks)
    with pytest.raises(ValueError, match="not an RSA, EC"):
        StaticJwks({"keys": [{"kty": "oct", "kid": "x"}]})


def test_load_jwks_rejects_bad_documents() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        load_jwks("{")
    with pytest.raises(ValueError, match='"keys" list'):
        load_jwks('{"key": []}')
