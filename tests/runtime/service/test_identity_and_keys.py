"""Pseudonymous actor ids, organisation ids from claims, and the ALB key lookup's bounds."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from runtime.audit.chain import ChainKey
from runtime.service.alb_keys import AlbPublicKeys, KeyLookupError, key_url
from runtime.service.auth import AuthenticationError, CachingAuthenticator, Caller, Refusal
from runtime.service.identity import Identities, StaffMember, StaffResolver

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"


def test_identity_actor_id_is_stable_keyed_and_hides_the_user() -> None:
    key = ChainKey(os.urandom(32))
    identities = Identities(key, source="jwt:https://idp.example/")
    actor = identities.actor_id("alice@example.com")
    assert actor == identities.actor_id("alice@example.com")
    assert actor != identities.actor_id("bob@example.com")
    assert actor != Identities(key, source="alb-oidc").actor_id("alice@example.com")
    assert actor != Identities(ChainKey(os.urandom(32)), source="jwt:https://idp.example/").actor_id(
        "alice@example.com")
    assert "alice" not in str(actor) and actor.version == 5


def test_identity_owner_is_the_organisation_claim_and_must_be_an_id() -> None:
    identities = Identities(ChainKey(os.urandom(32)), source="alb-oidc")
    org = uuid.uuid4()
    principal = identities.owner_scope(Caller("alice", str(org)), "0d5c1b6e-3b8e-4a51-9f87-6c1c7c3c1f00")
    assert principal.owner_id == org and principal.actor_id == identities.actor_id("alice")
    for organisation in ("acme", "", "00000000-0000-0000-0000-00000000000g"):
        with pytest.raises(AuthenticationError) as refused:
            identities.owner_scope(Caller("alice", organisation), "r-1")
        assert refused.value.reason is Refusal.NOT_AN_OWNER


def test_identity_owner_scope_remembers_callers_not_refusals_and_stays_bounded() -> None:
    identities = Identities(ChainKey(os.urandom(32)), source="jwt:https://idp.example/")
    org = uuid.uuid4()
    first = identities.owner_scope(Caller("alice", str(org), source="jwt:https://idp.example/"), "r-1")
    again = identities.owner_scope(Caller("alice", str(org), source="jwt:https://idp.example/"), "r-2")
    assert (again.owner_id, again.actor_id, again.request_id) == (first.owner_id, first.actor_id, "r-2")
    other_source = identities.owner_scope(Caller("alice", str(org), source="alb-oidc"), "r-3")
    assert other_source.actor_id == identities.actor_id("alice", "alb-oidc") != first.actor_id
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            identities.owner_scope(Caller("alice", "acme"), "r-4")
    for i in range(Identities.MAX_REMEMBERED + 5):
        identities.owner_scope(Caller(f"user-{i}", str(org)), "r-5")
    assert len(identities._ids) <= Identities.MAX_REMEMBERED


STAFF = StaffResolver(claim="staff_roles", role="platform-support")


@pytest.mark.parametrize("roles", ["platform-support", ["reader", "platform-support"], ("platform-support",)])
def test_staff_resolver_subject_with_the_role_is_staff(roles: object) -> None:
    caller = STAFF({"sub": "engineer", "staff_roles": roles, "exp": 1_900_000_000})
    assert caller == StaffMember("engineer", "") and caller.expires_at == 1_900_000_000
    assert STAFF.allows(caller)


def test_staff_resolver_an_owners_principal_is_never_staff() -> None:
    org = str(uuid.uuid4())
    claims = {"sub": "alice", "org_id": org, "staff_roles": ["platform-support"]}
    assert not STAFF.allows(Caller("alice", org, claims=claims))  # e.g. from ClaimResolver
    assert not STAFF.allows(Caller("alice", "", claims=claims))
    assert not STAFF.allows(StaffMember("alice", org, claims=claims))
    assert STAFF.allows(StaffMember("alice", "", claims=claims))


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice", "org_id": str(uuid.uuid4())},  # a customer: no staff claim
        {"sub": "alice", "staff_roles": "platform-support-x"},
        {"sub": "alice", "staff_roles": ["PLATFORM-SUPPORT"]},
        {"sub": "alice", "staff_roles": "reader platform-support"},
        {"sub": "alice", "staff_roles": [["platform-support"]]},
        {"sub": "alice", "staff_roles": {"platform-support": True}},
        {"sub": "alice", "org_roles": ["platform-support"]},  # the role, in another claim
        {"sub": "alice", "staff_roles": None},
    ],
)
def test_staff_resolver_without_the_role_refuses_not_staff(claims: dict[str, object]) -> None:
    with pytest.raises(AuthenticationError) as refused:
        STAFF(claims)
    assert refused.value.reason is Refusal.NOT_STAFF


@pytest.mark.parametrize("sub", [None, "", 7, ["engineer"]])
def test_staff_resolver_without_a_subject_refuses_missing_claim(sub: object) -> None:
    with pytest.raises(AuthenticationError) as refused:
        STAFF({"sub": sub, "staff_roles": ["platform-support"]})
    assert refused.value.reason is Refusal.MISSING_CLAIM


def test_staff_resolver_needs_a_claim_and_a_role() -> None:
    for claim, role in (("", "platform-support"), ("staff_roles", "")):
        with pytest.raises(ValueError, match="PLATFORM_AUTH_STAFF_CLAIM"):
            StaffResolver(claim, role)


def test_alb_keys_are_fetched_once_from_the_regional_endpoint() -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return PEM.encode()

    keys = AlbPublicKeys(region="eu-west-1", fetch=fetch)
    assert keys("3e7bcd4d-8f1a-4f7e-9a55-0c6f0f2a1b2c") == PEM
    assert keys("3e7bcd4d-8f1a-4f7e-9a55-0c6f0f2a1b2c") == PEM
    assert fetched == ["https://public-keys.auth.elb.eu-west-1.amazonaws.com/3e7bcd4d-8f1a-4f7e-9a55-0c6f0f2a1b2c"]
    assert key_url("us-gov-west-1", "k", "aws-us-gov").startswith("https://s3-us-gov-west-1.amazonaws.com/")


@pytest.mark.parametrize("kid", ["../../etc/passwd", "a/b", "k?x=1", "", "x" * 65, "kid with space"])
def test_alb_keys_refuse_key_ids_that_are_not_ids(kid: str) -> None:
    keys = AlbPublicKeys(region="eu-west-1", fetch=lambda url: pytest.fail(f"fetched {url}"))
    with pytest.raises(KeyLookupError):
        keys(kid)


def test_alb_keys_unknown_ids_are_remembered_and_fetches_are_rate_limited() -> None:
    calls: list[str] = []
    now = [0.0]

    def fetch(url: str) -> bytes:
        calls.append(url)
        raise OSError("404")

    keys = AlbPublicKeys(region="eu-west-1", fetch=fetch, max_fetches=3, window_seconds=60, clock=lambda: now[0])
    with pytest.raises(KeyLookupError):
        keys("unknown-1")
    with pytest.raises(KeyLookupError):
        keys("unknown-1")  # remembered as unknown: no second fetch
    assert len(calls) == 1
    for kid in ("unknown-2", "unknown-3", "unknown-4", "unknown-5"):
        with pytest.raises(KeyLookupError):
            keys(kid)
    assert len(calls) == 3  # the fourth and fifth lookups were refused without a fetch
    now[0] = 61.0
    with pytest.raises(KeyLookupError):
        keys("unknown-6")
    assert len(calls) == 4


def test_alb_keys_refuse_a_body_that_is_not_a_public_key() -> None:
    keys = AlbPublicKeys(region="eu-west-1", fetch=lambda url: b"<html>hello</html>")
    with pytest.raises(KeyLookupError, match="not a public key"):
        keys("kid-1")


class _Counting:
    def __init__(self, expires_in: float | None) -> None:
        self.calls, self.expires_in = 0, expires_in

    def authenticate(self, headers: Any) -> Caller:
        self.calls += 1
        if headers.get("authorization") == "Bearer bad":
            raise AuthenticationError(Refusal.BAD_SIGNATURE)
        expires = None if self.expires_in is None else NOW + self.expires_in
        return Caller("alice", "org", expires_at=expires)

    def cached(self, headers: Any) -> Caller | None:
        return None


NOW = 1_000_000.0


def test_caching_authenticator_checks_a_token_once_until_it_expires() -> None:
    inner, now = _Counting(expires_in=60), [NOW]
    cached = CachingAuthenticator(inner, header="Authorization", clock=lambda: now[0])
    good = {"authorization": "Bearer good"}
    assert cached.authenticate(good) == cached.authenticate(good) == Caller("alice", "org")
    assert inner.calls == 1
    now[0] = NOW + 60  # at its exp the token is checked again (and the inner check applies its own rules)
    cached.authenticate(good)
    assert inner.calls == 2


def test_caching_authenticator_never_caches_failures_or_tokens_without_expiry() -> None:
    inner = _Counting(expires_in=None)
    cached = CachingAuthenticator(inner, header="authorization", clock=lambda: NOW)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            cached.authenticate({"authorization": "Bearer bad"})
        cached.authenticate({"authorization": "Bearer no-exp"})
    assert inner.calls == 4


def test_caching_authenticator_is_bounded_in_size_and_age() -> None:
    inner, now = _Counting(expires_in=3600), [NOW]
    cached = CachingAuthenticator(inner, header="authorization", max_entries=2, max_age_seconds=300,
                                  clock=lambda: now[0])
    for token in ("a", "b", "c"):
        cached.authenticate({"authorization": token})
    cached.authenticate({"authorization": "a"})  # evicted by c: checked again
    assert inner.calls == 4
    now[0] = NOW + 301
    cached.authenticate({"authorization": "c"})  # older than max_age: checked again
    assert inner.calls == 5


def test_caching_authenticator_keeps_digests_not_tokens_and_a_short_max_age() -> None:
    inner, now = _Counting(expires_in=3600), [NOW]
    cached = CachingAuthenticator(inner, header="authorization", clock=lambda: now[0])
    cached.authenticate({"authorization": "Bearer good-token-text"})
    assert all(isinstance(key, bytes) and len(key) == 32 for key in cached._entries)
    assert "good-token-text" not in repr(cached._entries)
    now[0] = NOW + 61  # the default max age (60 s) is over, though the token is valid for an hour
    cached.authenticate({"authorization": "Bearer good-token-text"})
    assert inner.calls == 2
    cached.authenticate({"authorization": "Bearer good-token-text\udcff"})  # any text: never a 500
    assert inner.calls == 3
