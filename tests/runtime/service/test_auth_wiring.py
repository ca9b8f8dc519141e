"""`wiring.authenticator`: the owner service resolves organisations, the support service staff only (P4),
and the mixed mode (qa) sends bearer requests to the bearer path only and the rest to the load balancer's."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError
from runtime.service.auth import ALB_HEADER, AuthenticationError, HeaderDispatchAuthenticator, Refusal
from runtime.service.config import AuthMode, AuthSettings
from runtime.service.identity import Identities, StaffMember
from runtime.service.wiring import authenticator
from tests.support.tokens import DEV_STAFF_CLAIM, DEV_STAFF_ROLE, TokenIssuer

SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-qa/0123456789abcdef"


@pytest.fixture(scope="module")
def customers() -> TokenIssuer:
    return TokenIssuer.generate()


@pytest.fixture(scope="module")
def staff() -> TokenIssuer:
    return TokenIssuer.generate_staff()


@pytest.fixture(scope="module")
def alb_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _bearer(issuer: TokenIssuer, **extra: Any) -> AuthSettings:
    return AuthSettings(AuthMode.BEARER_JWT, jwt_issuer=issuer.issuer, jwt_audience=issuer.audience,
                        jwks=issuer.jwks(), **extra)


def _alb_fetch(key: ec.EllipticCurvePrivateKey) -> Any:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return lambda url: pem


def _alb_token(key: ec.EllipticCurvePrivateKey, org: uuid.UUID) -> str:
    now = int(time.time())
    claims = {"sub": "browser-user", "org_id": str(org), "exp": now + 120, "iss": "https://idp.example/"}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "kid-1", "signer": SIGNER, "client": "c"})


def _reason(who: Any, headers: dict[str, str]) -> Refusal:
    with pytest.raises(AuthenticationError) as refused:
        who.authenticate(headers)
    return refused.value.reason


def test_authenticator_owner_mode_resolves_the_organisation_and_refuses_staff(
    customers: TokenIssuer, staff: TokenIssuer
) -> None:
    who = authenticator(_bearer(customers), ServiceMode.OWNER)
    org = uuid.uuid4()
    assert who.authenticate(customers.headers("alice", org)).organisation_id == str(org)
    assert _reason(who, customers.headers("engineer", None, **{DEV_STAFF_CLAIM: [DEV_STAFF_ROLE]})) is (
        Refusal.NOT_AN_OWNER)
    assert _reason(who, staff.staff_headers("engineer")) in (Refusal.UNKNOWN_KID, Refusal.WRONG_ISSUER)


def test_authenticator_support_mode_resolves_staff_only(customers: TokenIssuer, staff: TokenIssuer) -> None:
    who = authenticator(_bearer(staff, staff_claim=DEV_STAFF_CLAIM, staff_role=DEV_STAFF_ROLE), ServiceMode.SUPPORT)
    caller = who.authenticate(staff.staff_headers("engineer"))
    assert isinstance(caller, StaffMember) and caller.user_id == "engineer" and caller.organisation_id == ""
    assert _reason(who, staff.headers("engineer", uuid.uuid4())) is Refusal.NOT_STAFF
    assert _reason(who, customers.headers("alice", uuid.uuid4(), **{DEV_STAFF_CLAIM: [DEV_STAFF_ROLE]})) in (
        Refusal.UNKNOWN_KID, Refusal.WRONG_ISSUER)


def test_authenticator_support_mode_without_staff_settings_refuses_to_build(staff: TokenIssuer) -> None:
    with pytest.raises(ConfigurationError, match=f"{settings.AUTH_STAFF_CLAIM} and {settings.AUTH_STAFF_ROLE}"):
        authenticator(_bearer(staff), ServiceMode.SUPPORT)


def test_authenticator_mixed_mode_dispatches_on_the_authorization_header(
    customers: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    auth = AuthSettings(AuthMode.ALB_OIDC_OR_BEARER_JWT, alb_signer_arn=SIGNER, jwt_issuer=customers.issuer,
                        jwt_audience=customers.audience, jwks=customers.jwks())
    who = authenticator(auth, ServiceMode.OWNER, fetch=_alb_fetch(alb_key))
    assert isinstance(who, HeaderDispatchAuthenticator)
    api_client, browser = uuid.uuid4(), uuid.uuid4()
    assert who.authenticate(customers.headers("alice", api_client)).organisation_id == str(api_client)
    signed_in = {ALB_HEADER: _alb_token(alb_key, browser)}
    assert who.authenticate(signed_in).organisation_id == str(browser)
    # A bad bearer token is refused, whatever load balancer header comes with it.
    assert _reason(who, {"Authorization": "Bearer not.a.token", **signed_in}) is Refusal.MALFORMED
    assert _reason(who, {}) is Refusal.NO_CREDENTIAL
    for headers in (customers.headers("alice", api_client), signed_in):  # each path remembers its own
        assert who.cached(headers) is not None


def test_identities_mixed_mode_same_sub_on_two_paths_is_two_actors(
    customers: TokenIssuer, alb_key: ec.EllipticCurvePrivateKey
) -> None:
    # qa: the load balancer signs browsers in with one IdP, API clients bring another IdP's tokens; a `sub` of
    # one is not the same person as the same `sub` of the other (P14: the ledger's actor ids must not merge them).
    auth = AuthSettings(AuthMode.ALB_OIDC_OR_BEARER_JWT, alb_signer_arn=SIGNER, jwt_issuer=customers.issuer,
                        jwt_audience=customers.audience, jwks=customers.jwks())
    who = authenticator(auth, ServiceMode.OWNER, fetch=_alb_fetch(alb_key))
    key = ChainKey(os.urandom(32))
    identities = Identities(key, source=auth.identity_source)
    org = uuid.uuid4()
    by_bearer = who.authenticate(customers.headers("browser-user", org))
    by_alb = who.authenticate({ALB_HEADER: _alb_token(alb_key, org)})
    assert by_bearer.user_id == by_alb.user_id == "browser-user"
    bearer_actor = identities.owner_scope(by_bearer, "r-1").actor_id
    assert bearer_actor != identities.owner_scope(by_alb, "r-2").actor_id
    # Either path alone keeps the actor ids the single-IdP modes always gave.
    assert bearer_actor == Identities(key, source=f"jwt:{customers.issuer}").actor_id("browser-user")
