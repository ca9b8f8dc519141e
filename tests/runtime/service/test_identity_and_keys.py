"""Pseudonymous actor ids, organisation ids from claims, and the ALB key lookup's bounds."""

from __future__ import annotations

import os
import uuid

import pytest

from runtime.audit.chain import ChainKey
from runtime.service.alb_keys import AlbPublicKeys, KeyLookupError, key_url
from runtime.service.auth import AuthenticationError, Principal
from runtime.service.identity import Identities, SubjectResolver

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
    principal = identities.owner_principal(Principal("alice", str(org)), "0d5c1b6e-3b8e-4a51-9f87-6c1c7c3c1f00")
    assert principal.owner_id == org and principal.actor_id == identities.actor_id("alice")
    for organisation in ("acme", "", "00000000-0000-0000-0000-00000000000g"):
        with pytest.raises(AuthenticationError):
            identities.owner_principal(Principal("alice", organisation), "r-1")


def test_identity_staff_need_only_a_subject() -> None:
    assert SubjectResolver()({"sub": "engineer"}) == Principal("engineer", "")
    with pytest.raises(AuthenticationError):
        SubjectResolver()({"org_id": str(uuid.uuid4())})


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
