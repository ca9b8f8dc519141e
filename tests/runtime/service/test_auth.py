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

from runtime.service.alb_keys import AlbPublicKeys
from runtime.service.auth import (
    ALB_HEADER,
    PUBLIC_MESSAGE,
    AlbOidcAuthenticator,
    AuthenticationError,
    Authenticator,
    BearerJwtAuthenticator,
    CachingAuthenticator,
    Caller,
    ClaimResolver,
    HeaderDispatchAuthenticator,
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
    assert principal == Caller(user_id="user-1", organisation_id="org-a", source="alb-oidc")


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
    assert principal == Caller(user_id="user-1", organisation_id="org-a", source=f"jwt:{ISSUER}")


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


def test_authentication_error_keeps_a_fixed_code_and_never_the_text() -> None:
    assert str(AuthenticationError(Refusal.NOT_STAFF)) == PUBLIC_MESSAGE
    assert AuthenticationError(Refusal.NOT_AN_OWNER).reason is Refusal.NOT_AN_OWNER
    legacy = AuthenticationError(f"token lacks sub {ALB_HEADER}")  # type: ignore[arg-type]
    assert legacy.reason is Refusal.MALFORMED and ALB_HEADER not in repr(vars(legacy))
    assert {r.value for r in Refusal} >= {
        "no_credential", "malformed", "alg_not_allowed", "key_type_mismatch", "unknown_kid", "key_unavailable",
        "bad_signature", "expired", "not_yet_valid", "wrong_issuer", "wrong_audience", "missing_claim",
        "wrong_signer", "not_an_owner", "not_staff"}


def test_bearer_resolver_failure_of_any_kind_is_a_refusal_not_a_500(rsa_key: rsa.RSAPrivateKey) -> None:
    def broken(claims: Any) -> Caller:
        raise KeyError("ZZ secret from the claims")

    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    bearer = BearerJwtAuthenticator(keys=StaticJwks({"keys": [{**jwk, "kid": "idp-1"}]}), issuer=ISSUER,
                                    audience=AUDIENCE, resolve=broken)
    error = _rejected(bearer, {"Authorization": f"Bearer {_bearer_token(rsa_key)}"})
    assert error.reason is Refusal.MALFORMED and error.__cause__ is None


def test_alb_key_of_another_type_for_the_kid_is_refused_before_verification(
    alb_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    alb = AlbOidcAuthenticator(expected_signer_arn=SIGNER, public_key=lambda kid: pem.decode(), resolve=ClaimResolver())
    assert _rejected(alb, {ALB_HEADER: _alb_token(alb_key)}).reason is Refusal.KEY_TYPE_MISMATCH


def test_alb_key_lookup_refusals_keep_their_codes(alb_key: ec.EllipticCurvePrivateKey) -> None:
    def down(url: str) -> bytes:
        raise OSError("unreachable")

    keys = AlbPublicKeys(region="eu-west-1", fetch=down, max_fetches=1)
    alb = AlbOidcAuthenticator(expected_signer_arn=SIGNER, public_key=keys, resolve=ClaimResolver())
    assert _rejected(alb, {ALB_HEADER: _alb_token(alb_key, kid="kid-1")}).reason is Refusal.UNKNOWN_KID
    assert _rejected(alb, {ALB_HEADER: _alb_token(alb_key, kid="kid-2")}).reason is Refusal.KEY_UNAVAILABLE
    assert _rejected(alb, {ALB_HEADER: _alb_token(alb_key, kid="kid/../x")}).reason is Refusal.MALFORMED


class _Fixed:
    def __init__(self, name: str) -> None:
        self.name, self.calls = name, 0

    def authenticate(self, headers: Any) -> Caller:
        self.calls += 1
        return Caller(user_id=self.name, organisation_id="o", expires_at=time.time() + 60)

    def cached(self, headers: Any) -> Caller | None:
        return None


def test_dispatch_authorization_header_goes_to_bearer_only_else_alb() -> None:
    bearer, alb = _Fixed("bearer"), _Fixed("alb")
    dispatch: Authenticator = HeaderDispatchAuthenticator(bearer=bearer, alb=alb)
    assert dispatch.authenticate({"AUTHORIZATION": "", ALB_HEADER: "x"}).user_id == "bearer"
    assert dispatch.authenticate({ALB_HEADER: "x"}).user_id == "alb"
    assert dispatch.authenticate({}).user_id == "alb"
    assert (bearer.calls, alb.calls) == (1, 2)


def test_cached_every_authenticator_answers_cached_and_only_the_cache_knows(
    alb_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    headers = {ALB_HEADER: _alb_token(alb_key)}
    caching = CachingAuthenticator(_alb(alb_key), header=ALB_HEADER)
    dispatch = HeaderDispatchAuthenticator(bearer=_bearer(rsa_key), alb=caching)
    plain: list[Authenticator] = [_alb(alb_key), _bearer(rsa_key), caching, dispatch]
    assert [a.cached(headers) for a in plain] == [None] * 4
    dispatch.authenticate(headers)
    assert dispatch.cached(headers) == caching.cached(headers) == Caller(user_id="user-1", organisation_id="org-a",
                                                                             source="alb-oidc")
    assert dispatch.cached({**headers, "Authorization": "Bearer x"}) is None  # a bearer request: not the ALB cache
