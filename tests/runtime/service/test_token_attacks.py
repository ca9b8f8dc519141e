"""Crafted tokens against the running app: whatever a token's header or payload holds, the answer is the
same opaque 401 (never a 5xx), and nothing the client sent reaches the log or telemetry (P3, P7)."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runtime.audit.chain import ChainKey
from runtime.service.app import create_app
from runtime.service.auth import (
    ALB_HEADER,
    MAX_TOKEN_CHARS,
    AlbOidcAuthenticator,
    CachingAuthenticator,
    ClaimResolver,
    HeaderDispatchAuthenticator,
)
from runtime.service.context import ServiceContext
from runtime.service.identity import Identities
from tests.support.tokens import TokenIssuer

MARKER = "ZZMARKERZZ"
OPAQUE = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "authentication required"}
SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-test/0123456789abcdef"
ALB_KID = "kid-1"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Any) -> str:
    return _b64(json.dumps(value).encode())


def _crafted(header: Any, claims: Any, signature: bytes = b"\x01" * 64) -> str:
    return ".".join((_segment(header), _segment(claims), _b64(signature)))


def _claims(issuer: TokenIssuer, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer.issuer, "aud": issuer.audience, "sub": "u", "org_id": str(uuid.uuid4()), "iat": now,
            "exp": now + 60, **extra}


def _signed(key: Any, claims: dict[str, Any], *, algorithm: str = "RS256", **header: Any) -> str:
    """Really signed, whatever the header and claims hold (so we sign the bytes ourselves): the refusal
    has to come from a check beside or after the signature."""
    signing_input = f"{_segment({'alg': algorithm, **header})}.{_segment(claims)}"
    signer = jwt.algorithms.get_default_algorithms()[algorithm]
    return f"{signing_input}.{_b64(signer.sign(signing_input.encode(), signer.prepare_key(key)))}"


def _opaque_401(answer: Any) -> None:
    assert answer.status_code == 401, answer.text
    document = answer.json()
    document.pop("request_id", None)
    assert document == OPAQUE


def _bearer(client: TestClient, token: str) -> None:
    _opaque_401(client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"}))


# --- today's findings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "PS256", "PS384", "EdDSA", "HS256", "none"])
def test_bearer_alg_of_another_family_on_the_rsa_kid_gets_401_not_500(
    client: TestClient, issuer: TokenIssuer, alg: str
) -> None:
    _bearer(client, _crafted({"alg": alg, "kid": issuer.kid, "typ": "JWT"}, _claims(issuer)))


def test_bearer_refused_alg_is_not_written_to_the_log(
    client: TestClient, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = _crafted({"alg": f"{MARKER}-alg", "kid": issuer.kid}, _claims(issuer))
    with caplog.at_level(logging.DEBUG):
        _bearer(client, token)
    assert "authentication refused: alg_not_allowed" in caplog.text
    assert MARKER not in caplog.text


# --- crafted bearer tokens, case by case -----------------------------------------------------------------


def _attacker_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid}


def _bearer_attacks(issuer: TokenIssuer) -> dict[str, str]:
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = _claims(issuer)
    kid = issuer.kid
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _segment({"alg": "RS256", "kid": kid})
    payload = _segment(good)
    attacks = {
        # A valid PS256 signature by the right RSA key: the key verifies RS256 only.
        "ps256_by_the_right_key": _signed(issuer.key, good, algorithm="PS256", kid=kid),
        "rs384_by_the_right_key": _signed(issuer.key, good, algorithm="RS384", kid=kid),
        "hs256_public_key_as_secret": _crafted({"alg": "HS256", "kid": kid}, good, public_pem),
        "alg_lower_case": _crafted({"alg": "rs256", "kid": kid}, good),
        "alg_list": _crafted({"alg": ["RS256"], "kid": kid}, good),
        "alg_missing": _crafted({"kid": kid}, good),
        "kid_missing": _signed(issuer.key, good),
        "kid_number": _crafted({"alg": "RS256", "kid": 1}, good),
        "kid_traversal": _crafted({"alg": "RS256", "kid": "../../etc/passwd\x00"}, good),
        "kid_unknown": _signed(issuer.key, good, kid="dev-2"),
        "kid_huge": _crafted({"alg": "RS256", "kid": "k" * 3000}, good),
        # Keys chosen by the token: signed with the attacker's key, which the header supplies or points to.
        "embedded_jwk": _signed(mine, good, kid=kid, jwk=_attacker_jwk(mine, kid)),
        "jku": _signed(mine, good, kid=kid, jku="https://evil.example/jwks.json"),
        "x5u": _signed(issuer.key, good, kid=kid, x5u="https://evil.example/cert.pem"),
        "x5c": _signed(issuer.key, good, kid=kid, x5c=["MIIB"]),
        "crit_exp": _signed(issuer.key, good, kid=kid, crit=["exp"], exp=1),
        "crit_b64": _signed(issuer.key, good, kid=kid, crit=["b64"], b64=False),
        "b64_false": _signed(issuer.key, good, kid=kid, b64=False),
        "typ_dpop": _signed(issuer.key, good, kid=kid, typ="dpop+jwt"),
        "typ_number": _signed(issuer.key, good, kid=kid, typ=7),
        "nested_header": _signed(issuer.key, good, kid=kid, extra={"a": {"b": 1}}),
        "duplicate_alg": ".".join((_b64(f'{{"alg":"RS256","kid":"{kid}","alg":"HS256"}}'.encode()), payload,
                                   _b64(b"x"))),
        "header_not_object": ".".join((_segment(["RS256"]), payload, _b64(b"x"))),
        "header_nan": ".".join((_b64(f'{{"alg":"RS256","kid":"{kid}","n":NaN}}'.encode()), payload, _b64(b"x"))),
        "header_not_utf8": ".".join((_b64(b'{"alg":"\xff"}'), payload, _b64(b"x"))),
        "header_bad_base64": f"{header[:-1]}!.{payload}.{_b64(b'x')}",
        "header_bad_length": f"{header}a.{payload}.{_b64(b'x')}" if len(header) % 4 == 0 else f"a{header}.x.y",
        "unsigned": f"{header}.{payload}.",
        "two_segments": f"{header}.{payload}",
        "jwe_five_segments": f"{header}.{payload}.a.b.c",
        "oversized": _signed(issuer.key, _claims(issuer, pad="x" * MAX_TOKEN_CHARS), kid=kid),
        "deep_payload": _crafted({"alg": "RS256", "kid": kid}, {"a": [[[[[[[[[[[[1]]]]]]]]]]]]}),
        # Signed by the right key, but the claims are wrong in type or range.
        "exp_string": _signed(issuer.key, _claims(issuer, exp="never"), kid=kid),
        "exp_bool": _signed(issuer.key, _claims(issuer, exp=True), kid=kid),
        "exp_huge": _signed(issuer.key, _claims(issuer, exp=10**30), kid=kid),
        "exp_infinite": _signed(issuer.key, _claims(issuer, exp=float("inf")), kid=kid),
        "exp_missing": _signed(issuer.key, {k: v for k, v in good.items() if k != "exp"}, kid=kid),
        "iat_future": _signed(issuer.key, _claims(issuer, iat=int(time.time()) + 3600), kid=kid),
        "iat_list": _signed(issuer.key, _claims(issuer, iat=[1]), kid=kid),
        "nbf_future": _signed(issuer.key, _claims(issuer, nbf=int(time.time()) + 3600), kid=kid),
        "nbf_object": _signed(issuer.key, _claims(issuer, nbf={"t": 1}), kid=kid),
        "iss_list": _signed(issuer.key, _claims(issuer, iss=[issuer.issuer]), kid=kid),
        "aud_object": _signed(issuer.key, _claims(issuer, aud={"a": issuer.audience}), kid=kid),
        "aud_list_of_numbers": _signed(issuer.key, _claims(issuer, aud=[1, 2]), kid=kid),
        "sub_number": _signed(issuer.key, _claims(issuer, sub=42), kid=kid),
        "sub_empty": _signed(issuer.key, _claims(issuer, sub=""), kid=kid),
        "sub_huge": _signed(issuer.key, _claims(issuer, sub="s" * 2000), kid=kid),
        "org_object": _signed(issuer.key, _claims(issuer, org_id={"id": 1}), kid=kid),
        "org_not_uuid": _signed(issuer.key, _claims(issuer, org_id="acme"), kid=kid),
    }
    return attacks


def test_bearer_crafted_tokens_all_get_the_same_opaque_401(client: TestClient, issuer: TokenIssuer) -> None:
    for case, token in _bearer_attacks(issuer).items():
        answer = client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, (case, answer.text)
        _opaque_401(answer)


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer\tx.y.z", "Token abc", "bearer  \u00e9.\u00e9.\u00e9", "Bearer a.b.c\x00",
     "Bearer " + "a" * (MAX_TOKEN_CHARS + 1), "Bearer " + "é" * 50],
)
def test_bearer_odd_authorization_values_get_401(client: TestClient, value: str) -> None:
    _opaque_401(client.get("/v1/prompts", headers=[("authorization", value.encode("latin-1", "replace"))]))


def test_bearer_authorization_sent_twice_gets_401(client: TestClient, issuer: TokenIssuer) -> None:
    good = issuer.token("u", uuid.uuid4())
    answer = client.get("/v1/prompts", headers=[("authorization", f"Bearer {good}".encode()),
                                                ("authorization", b"Bearer x.y.z")])
    _opaque_401(answer)


# --- property tests: headers and claims ------------------------------------------------------------------

_JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
_JSON = st.recursive(_JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
_ALGS = st.sampled_from(["RS256", "RS384", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS512",
                         "none", "None", "RS256 ", ""]) | _JSON
_HEADER_EXTRAS = st.dictionaries(
    st.sampled_from(["typ", "crit", "jku", "x5u", "jwk", "x5c", "b64", "cty", "zip", "enc", "x5t", "nested",
                     "signer", "client"]),
    _JSON | st.just(["b64"]) | st.just(False) | st.just("https://evil.example/k") | st.just("x" * 5000),
    max_size=4,
)


@st.composite
def _headers(draw: st.DrawFn, kids: list[str]) -> dict[str, Any]:
    header: dict[str, Any] = dict(draw(_HEADER_EXTRAS))
    if draw(st.booleans()):
        header["alg"] = draw(_ALGS)
    if draw(st.booleans()):
        header["kid"] = draw(st.sampled_from(kids) | _JSON)
    return header


_WRONG_CLAIMS = st.sampled_from(["exp", "iat", "nbf", "iss", "aud", "sub", "org_id"])
_WRONG_VALUES = (st.none() | st.booleans() | st.text(max_size=20) | st.lists(st.integers(), max_size=3)
                 | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
                 | st.integers(min_value=10**12) | st.integers(max_value=-1) | st.just(float("inf")))


@PROPERTY
@given(header=_headers(["dev-1", "kid-1", "x"]), claims=st.dictionaries(st.text(max_size=10), _JSON, max_size=6),
       signature=st.binary(max_size=300))
def test_bearer_property_unsigned_headers_and_claims_get_401(
    client: TestClient, header: dict[str, Any], claims: dict[str, Any], signature: bytes
) -> None:
    _bearer(client, _crafted(header, claims, signature))


@PROPERTY
@given(extras=_HEADER_EXTRAS, name=_WRONG_CLAIMS, value=_WRONG_VALUES)
def test_bearer_property_signed_tokens_with_a_wrong_claim_get_401(
    client: TestClient, issuer: TokenIssuer, extras: dict[str, Any], name: str, value: Any
) -> None:
    """Signed by the IdP's real key: one claim of the wrong type or range, and any header extras."""
    assume(not (name == "sub" and isinstance(value, str) and value))  # a non-empty string is a good sub
    header = {k: v for k, v in extras.items() if k not in ("alg", "kid")}
    _bearer(client, _signed(issuer.key, _claims(issuer, **{name: value}), kid=issuer.kid, **header))


# --- ALB mode --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alb_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> str:
    pem: bytes = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


@pytest.fixture(scope="module")
def alb_keys(alb_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {ALB_KID: _pem(alb_key), "rsa-kid": _pem(rsa_key), "p384-kid": _pem(ec.generate_private_key(ec.SECP384R1())),
            "ed-kid": _pem(ed25519.Ed25519PrivateKey.generate()), "junk-kid": "-----BEGIN PUBLIC KEY-----\nxx"}


@pytest.fixture(scope="module")
def mixed_client(
    owner_context: ServiceContext, alb_keys: dict[str, str], service_chain_key: ChainKey
) -> Iterator[TestClient]:
    """The same data layer behind mixed mode: bearer tokens by Authorization, else the ALB's header."""
    alb = AlbOidcAuthenticator(expected_signer_arn=SIGNER, public_key=alb_keys.__getitem__, resolve=ClaimResolver())
    mixed = HeaderDispatchAuthenticator(bearer=owner_context.authenticator,
                                        alb=CachingAuthenticator(alb, header=ALB_HEADER))
    context = dataclasses.replace(owner_context, authenticator=mixed, authenticate_in_thread=True,
                                  www_authenticate=None, closers=(),
                                  identities=Identities(service_chain_key, source="alb-oidc"))
    with TestClient(create_app(context), raise_server_exceptions=False) as test_client:
        yield test_client


def _alb_claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alb-user", "org_id": str(uuid.uuid4()), "exp": int(time.time()) + 120,
            "iss": "https://idp.example/", **extra}


def _alb_token(key: Any, claims: dict[str, Any] | None = None, **header: Any) -> str:
    token = _signed(key, claims or _alb_claims(), algorithm="ES256",
                    **{"kid": ALB_KID, "signer": SIGNER, "client": "c", **header})
    return ".".join(part + "=" * (-len(part) % 4) for part in token.split("."))  # the ALB pads its segments


def _alb(client: TestClient, token: str) -> None:
    _opaque_401(client.get("/v1/prompts", headers={ALB_HEADER: token}))


def test_alb_valid_header_is_accepted_in_mixed_mode(
    mixed_client: TestClient, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    headers = {ALB_HEADER: _alb_token(alb_key)}
    assert mixed_client.put("/v1/organisation", json={"name": "ALB org"}, headers=headers).status_code == 201


def test_dispatch_bad_bearer_never_falls_through_to_a_valid_alb_header(
    mixed_client: TestClient, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    headers = {ALB_HEADER: _alb_token(alb_key)}
    assert mixed_client.get("/v1/prompts", headers=headers).status_code == 200
    for authorization in ("", "Bearer x.y.z", "Basic dXNlcjpwYXNz", f"Bearer {_alb_token(alb_key)}"):
        _opaque_401(mixed_client.get("/v1/prompts", headers={**headers, "Authorization": authorization}))


def test_alb_crafted_headers_all_get_the_same_opaque_401(
    mixed_client: TestClient, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    attacks = {
        "wrong_key": _alb_token(other),
        "other_signer": _alb_token(alb_key, signer=SIGNER + "x"),
        "signer_list": _alb_token(alb_key, signer=[SIGNER]),
        "signer_missing": jwt.encode(_alb_claims(), alb_key, algorithm="ES256", headers={"kid": ALB_KID}),
        "kid_traversal": _alb_token(alb_key, kid="../kid-1"),
        "kid_number": _alb_token(alb_key, kid=7),
        "kid_unknown": _alb_token(alb_key, kid="kid-9"),
        "rsa_key_for_kid": _alb_token(alb_key, kid="rsa-kid"),
        "p384_key_for_kid": _alb_token(alb_key, kid="p384-kid"),
        "ed25519_key_for_kid": _alb_token(alb_key, kid="ed-kid"),
        "junk_key_for_kid": _alb_token(alb_key, kid="junk-kid"),
        "es384": jwt.encode(_alb_claims(), p384, algorithm="ES384", headers={"kid": ALB_KID, "signer": SIGNER}),
        "alg_none": _crafted({"alg": "none", "kid": ALB_KID, "signer": SIGNER}, _alb_claims(), b""),
        "hs256": _crafted({"alg": "HS256", "kid": ALB_KID, "signer": SIGNER}, _alb_claims()),
        "jwk_embedded": _alb_token(alb_key, jwk={"kty": "EC"}),
        "crit": _alb_token(alb_key, crit=["b64"], b64=False),
        "expired": _alb_token(alb_key, _alb_claims(exp=int(time.time()) - 3600)),
        "exp_huge": _alb_token(alb_key, _alb_claims(exp=10**40)),
        "exp_string": _alb_token(alb_key, _alb_claims(exp="tomorrow")),
        "sub_missing": _alb_token(alb_key, {k: v for k, v in _alb_claims().items() if k != "sub"}),
        "org_missing": _alb_token(alb_key, _alb_claims(org_id=None)),
        "oversized": _alb_token(alb_key, _alb_claims(pad="p" * MAX_TOKEN_CHARS)),
        "garbage": "not.a.jwt",
        "padding_only": "===.===.===",
    }
    for case, token in attacks.items():
        answer = mixed_client.get("/v1/prompts", headers={ALB_HEADER: token})
        assert answer.status_code == 401, (case, answer.text)
        _opaque_401(answer)


@PROPERTY
@given(header=_headers([ALB_KID, "rsa-kid", "x"]), claims=st.dictionaries(st.text(max_size=10), _JSON, max_size=6),
       signature=st.binary(max_size=100), signer=st.booleans())
def test_alb_property_unsigned_headers_and_claims_get_401(
    mixed_client: TestClient, header: dict[str, Any], claims: dict[str, Any], signature: bytes, signer: bool
) -> None:
    if signer:
        header = {**header, "signer": SIGNER}
    _alb(mixed_client, _crafted(header, claims, signature))


@PROPERTY
@given(extras=_HEADER_EXTRAS, name=st.sampled_from(["exp", "sub", "org_id", "nbf", "iat"]), value=_WRONG_VALUES)
def test_alb_property_signed_headers_with_a_wrong_claim_get_401(
    mixed_client: TestClient, alb_key: ec.EllipticCurvePrivateKey, extras: dict[str, Any], name: str, value: Any
) -> None:
    assume(not (name == "sub" and isinstance(value, str) and value))  # a non-empty string is a good sub
    header = {k: v for k, v in extras.items() if k not in ("alg", "kid", "signer")}
    _alb(mixed_client, _alb_token(alb_key, _alb_claims(**{name: value}), **header))


# --- nothing from a refused credential reaches the log or telemetry ---------------------------------------


def _marked(n: int) -> str:
    return f"{MARKER}{n}"


def _marked_tokens(issuer: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey) -> tuple[list[str], list[str]]:
    """Refused tokens with a marker in every header member and claim, for every kind of refusal."""
    now = int(time.time())
    fields = {"typ": _marked(1), "cty": _marked(2), "x-extra": _marked(3), "jku": _marked(4), "x5u": _marked(5)}
    claims = {"iss": _marked(10), "aud": _marked(11), "sub": _marked(12), "org_id": _marked(13),
              "jti": _marked(14), "email": _marked(15), "iat": now, "exp": now + 60}
    good = _claims(issuer, sub=_marked(20), email=_marked(21), org_id=_marked(22))
    bearer = [
        _crafted({"alg": _marked(30), "kid": _marked(31), **fields}, claims),
        _crafted({"alg": "RS256", "kid": _marked(32), "typ": "JWT"}, claims),
        _crafted({"alg": "ES256", "kid": issuer.kid}, claims),  # another family on the RSA key
        _crafted({"alg": "RS256", "kid": issuer.kid}, claims, _marked(33).encode()),  # bad signature
        _signed(issuer.key, claims, kid=issuer.kid),  # wrong issuer, audience
        _signed(issuer.key, {**good, "exp": now - 3600}, kid=issuer.kid),  # expired
        _signed(issuer.key, {**good, "nbf": now + 3600}, kid=issuer.kid),  # not yet valid
        _signed(issuer.key, {**good, "aud": _marked(34)}, kid=issuer.kid),
        _signed(issuer.key, {**good, "exp": _marked(35)}, kid=issuer.kid),
        _signed(issuer.key, good, kid=issuer.kid),  # the organisation is not an id
        _signed(issuer.key, good, kid=issuer.kid, typ=_marked(36)),
        _signed(issuer.key, good, kid=issuer.kid, crit=[_marked(37)]),
        _marked(38) + "." + _marked(39) + "." + _marked(40),
        _marked(41) * (MAX_TOKEN_CHARS // 10),
    ]
    alb_claims = {"sub": _marked(50), "org_id": _marked(51), "email": _marked(52), "exp": now + 60}
    alb = [
        _alb_token(alb_key, alb_claims),  # the organisation is not an id
        _alb_token(alb_key, alb_claims, signer=_marked(53)),
        _alb_token(alb_key, alb_claims, kid=_marked(54)),
        _alb_token(alb_key, alb_claims, client=_marked(55), typ=_marked(56)),
        _alb_token(alb_key, {**alb_claims, "exp": now - 3600}),
        _crafted({"alg": _marked(57), "kid": ALB_KID, "signer": SIGNER}, alb_claims),
        _marked(58),
    ]
    return bearer, alb


def test_refused_credentials_leave_no_client_text_in_logs_or_telemetry(
    client: TestClient, mixed_client: TestClient, issuer: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bearer, alb = _marked_tokens(issuer, alb_key)
    caplog.set_level(logging.DEBUG)
    for token in bearer:
        _opaque_401(client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"}))
        _opaque_401(client.get("/v1/prompts", headers={"Authorization": f"{_marked(60)} {token}"}))
        _opaque_401(mixed_client.get("/v1/prompts", headers={"Authorization": f"Bearer {token}"}))
    for token in alb:
        _opaque_401(mixed_client.get("/v1/prompts", headers={ALB_HEADER: token}))
    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert text.count("authentication refused:") >= len(bearer) * 3 + len(alb)
    assert "request.completed" in text  # the telemetry events went through the same capture
    assert MARKER not in text
