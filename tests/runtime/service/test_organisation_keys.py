"""Per-organisation KMS keys through the owner API (issue 15), on the test cluster with moto as KMS:
- BYOK: an organisation registers its own key (checked, audited) and works; the customer disables it mid-traffic
  and, once the data-key cache's max age has passed, EVERY request of that organisation (reads, lists, writes)
  gets the one typed 503 organisation-key-unavailable and no data, while another organisation is unaffected;
  the control plane shows the key disabled;
- registration without a key: PUT /v1/organisation records a pending registration (ids only) and answers the
  typed 503; `org provision-keys --pending` (provision_pending) creates the key; the same PUT then succeeds."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime import settings
from runtime.audit.chain import ChainKey
from runtime.db import Database, OwnerScope, open_pool
from runtime.db.ledger import AuditLedger
from runtime.db.organisation_keys import PostgresCustomerKeys, list_organisations
from runtime.db.schema import APP_ROLE, JOBS_ROLE
from runtime.db.self_check import ServiceMode
from runtime.envelope import CacheLimits, KeyState, KmsOrganisationKeys
from runtime.envelope.keyrings.customer import CustomerKeyChecker
from runtime.lifecycle.organisation_keys import organisations_to_migrate, provision_pending, register_customer_key
from runtime.service.app import create_app
from runtime.service.auth import AdminRule
from runtime.service.context import admin_scope
from runtime.service.organisation_key_routes import organisation_key_router
from runtime.service.problems import ORGANISATION_KEY_UNAVAILABLE
from runtime.service.wiring import build_context
from runtime.wiring.keyring import KeyringChoice
from tests.runtime.envelope.test_organisation_keyring import StateEnforcingKms
from tests.runtime.service.conftest import Org, service_config
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

pytestmark = pytest.mark.postgres
APP = "platform"
ROLES = ("arn:aws:iam::123456789012:role/platform-test-data", "arn:aws:iam::123456789012:role/platform-test-job")
MAX_AGE = 0.5


class Fixture:
    def __init__(self, platform_db: PlatformDatabase, kms: Any, issuer: TokenIssuer, chain_key: ChainKey) -> None:
        self.kms, self.issuer = kms, issuer
        self.jobs_pool = open_pool(platform_db.settings(JOBS_ROLE, pool_min_size=1, pool_max_size=2),
                                   platform_db.password(JOBS_ROLE), name="org-keys-jobs")
        self.jobs = Database(self.jobs_pool, AuditLedger())
        self.checker = CustomerKeyChecker(kms, "test", ROLES)  # as the data service's role (moto: one account)
        self.admin = KmsOrganisationKeys(client=kms, app=APP, environment="test", account="123456789012",
                                         user_role_arns=ROLES, admin_role_arn=ROLES[1],
                                         customer_keys=PostgresCustomerKeys(self.jobs_pool))
        config = service_config(platform_db, issuer, chain_key, ServiceMode.OWNER, local_keyring=None,
                                keyring_choice=KeyringChoice("test", app=APP),
                                cache_limits=CacheLimits(max_age_seconds=MAX_AGE))
        self.context = build_context(config, clients=lambda service: StateEnforcingKms(kms),
                                     passwords=platform_db.password(APP_ROLE))

    def org(self, user: str) -> Org:
        owner = uuid.uuid4()
        return Org(owner, user, self.issuer.headers(user, owner))

    def admin_headers(self, org: Org) -> dict[str, str]:
        return self.issuer.headers(org.user, org.id, **{settings.DEFAULT_AUTH_ADMIN_CLAIM: [
            settings.DEFAULT_AUTH_ADMIN_ROLE]})

    def principal(self, org: Org) -> OwnerScope:
        return OwnerScope(org.id, uuid.uuid4(), "test-org-keys")

    def provision_pending(self) -> list[dict[str, Any]]:
        """`org provision-keys --pending` as the job (moto plays both roles)."""
        return list(provision_pending(database=self.jobs, connections=self.jobs_pool, admin=self.admin,
                                      checker=self.checker,
                                      principal_of=lambda owner: OwnerScope(owner, uuid.uuid4(), "test-provision")))

    def close(self) -> None:
        self.context.close()
        self.jobs_pool.close()


@pytest.fixture
def keys(platform_db: PlatformDatabase, kms_client: Any, issuer: TokenIssuer,
         service_chain_key: ChainKey) -> Iterator[tuple[Fixture, TestClient]]:
    fixture = Fixture(platform_db, kms_client, issuer, service_chain_key)
    admin = admin_scope(AdminRule(claim=settings.DEFAULT_AUTH_ADMIN_CLAIM, role=settings.DEFAULT_AUTH_ADMIN_ROLE))
    app = create_app(fixture.context, routers=[organisation_key_router(admin_scope=admin, checker=fixture.checker)])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield fixture, client
    fixture.close()


def _unavailable(answer: Any) -> bool:
    body = answer.json()
    return answer.status_code == 503 and body["type"] == ORGANISATION_KEY_UNAVAILABLE and "items" not in body


def test_byok_key_disabled_mid_traffic_every_request_typed_503_other_organisation_unaffected(
    keys: tuple[Fixture, TestClient], platform_db: PlatformDatabase
) -> None:
    fixture, client = keys
    theirs, ours = fixture.org("alice@byok.example"), fixture.org("bob@platform.example")
    arn = str(fixture.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"])
    fixture.kms.enable_key_rotation(KeyId=arn)
    register_customer_key(database=fixture.jobs, checker=fixture.checker, principal=fixture.principal(theirs),
                          key_arn=arn)
    fixture.admin.provision(str(ours.id))
    for org in (theirs, ours):
        assert client.put("/v1/organisation", json={"name": "n"}, headers=org.headers).status_code == 201
    ids = [client.post("/v1/prompts", json={"name": f"p{i}", "body": "b"}, headers=theirs.headers).json()["id"]
           for i in range(3)]
    assert len(client.get("/v1/prompts", headers=theirs.headers).json()["items"]) == 3
    assert fixture.admin.state(str(theirs.id)).state is KeyState.ENABLED
    assert client.get("/v1/organisation/key", headers=theirs.headers).status_code == 403  # admins only
    shown = client.get("/v1/organisation/key", headers=fixture.admin_headers(theirs)).json()
    assert shown == {"source": "customer", "state": "active", "key_arn": arn, "usable": True, "problem": None}

    fixture.kms.disable_key(KeyId=arn.rsplit("/", 1)[1])  # the customer disables its key
    time.sleep(MAX_AGE * 1.5)  # past the cache's max age: no data key of theirs may still be served from it
    answers = [
        client.get("/v1/organisation", headers=theirs.headers),
        client.get("/v1/prompts", headers=theirs.headers),
        *(client.get(f"/v1/prompts/{i}", headers=theirs.headers) for i in ids),
        client.post("/v1/prompts", json={"name": "new", "body": "b"}, headers=theirs.headers),
        client.patch(f"/v1/prompts/{ids[0]}", json={"name": "changed"}, headers=theirs.headers),
        client.put("/v1/organisation", json={"name": "renamed"}, headers=theirs.headers),
    ]
    assert [a.status_code for a in answers] == [503] * len(answers)
    assert all(_unavailable(a) for a in answers)
    assert client.get("/v1/organisation", headers=ours.headers).status_code == 200
    assert fixture.admin.state(str(theirs.id)).state is KeyState.DISABLED  # the control plane's view (org key-state)
    shown = client.get("/v1/organisation/key", headers=fixture.admin_headers(theirs)).json()  # the admin's
    assert shown["usable"] is False and shown["problem"] == "DisabledException" and shown["key_arn"] == arn
    with platform_db.admin() as admin:
        audited = admin.execute(
            "SELECT fields->>'action', fields->>'request_id' FROM platform.audit_events WHERE owner_id = %s AND "
            "fields->>'table' = 'organisation_keys' ORDER BY id", (theirs.id,)).fetchall()
        count = admin.execute("SELECT count(*) FROM platform.prompts WHERE owner_id = %s", (theirs.id,)).fetchone()
    actions = [a for a, _ in audited]
    assert actions[0] == "write" and actions.count("read") >= 3  # registered; shown twice; found unavailable
    unavailable = [r for a, r in audited if r.startswith("orgkey-")]
    assert 1 <= len(unavailable) <= 2  # once per cache max age, not once per refused request
    assert count is not None and count[0] == 3  # the refused write wrote nothing
    migrating = organisations_to_migrate(fixture.jobs_pool)  # `org migrate-keys --all`: platform keys only
    assert ours.id in migrating and theirs.id not in migrating


def test_registration_without_a_key_pending_then_provisioned_then_registered(
    keys: tuple[Fixture, TestClient]
) -> None:
    fixture, client = keys
    org = fixture.org("carol@new.example")
    first = client.put("/v1/organisation", json={"name": "Carol's"}, headers=org.headers)
    assert _unavailable(first) and first.headers["Retry-After"]
    pending = {r.owner_id for r in list_organisations(fixture.jobs_pool, source="platform", state="pending")}
    assert org.id in pending
    assert fixture.kms.list_aliases().get("Aliases", []) == [] or all(
        str(org.id) not in a["AliasName"] for a in fixture.kms.list_aliases()["Aliases"])  # none on the request path
    done = {line["organisation"]: line for line in fixture.provision_pending()}
    assert done[str(org.id)]["state"] == "enabled" and done[str(org.id)]["source"] == "platform"
    active = list_organisations(fixture.jobs_pool, source="platform", state="active")
    assert org.id in {r.owner_id for r in active}
    assert org.id in organisations_to_migrate(fixture.jobs_pool)  # `org migrate-keys --all` finds it
    assert client.put("/v1/organisation", json={"name": "Carol's"}, headers=org.headers).status_code == 201
    assert client.get("/v1/organisation", headers=org.headers).json()["name"] == "Carol's"


def test_admin_registers_its_own_key_checked_pending_then_activated_by_the_control_plane(
    keys: tuple[Fixture, TestClient]
) -> None:
    """PUT /v1/organisation/key: the admin's own key is checked as the data service's role; a key that lacks
    something is a 422 naming it; a good one is pending (not used yet: registration still answers the typed 503)
    until `org provision-keys --pending` checks it as the job's role and activates it; then the organisation
    registers and its data is wrapped under its own key."""
    fixture, client = keys
    org = fixture.org("dana@own-key.example")
    headers = fixture.admin_headers(org)
    unrotated = str(fixture.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"])
    refused = client.put("/v1/organisation/key", json={"key_arn": unrotated}, headers=headers)
    assert refused.status_code == 422 and [p["check"] for p in refused.json()["problems"]] == ["rotation"]
    assert client.put("/v1/organisation/key", json={"key_arn": "alias/mine"}, headers=headers).status_code == 422
    assert client.put("/v1/organisation/key", json={"key_arn": unrotated}, headers=org.headers).status_code == 403
    arn = str(fixture.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"])
    fixture.kms.enable_key_rotation(KeyId=arn)
    accepted = client.put("/v1/organisation/key", json={"key_arn": arn}, headers=headers)
    assert accepted.status_code == 202 and accepted.json()["state"] == "pending"
    assert _unavailable(client.put("/v1/organisation", json={"name": "Dana's"}, headers=org.headers))
    done = {line["organisation"]: line for line in fixture.provision_pending()}
    assert done[str(org.id)] == {"organisation": str(org.id), "source": "customer", "state": "active", "key_arn": arn}
    assert client.put("/v1/organisation", json={"name": "Dana's"}, headers=org.headers).status_code == 201
    shown = client.get("/v1/organisation/key", headers=headers).json()
    assert shown == {"source": "customer", "state": "active", "key_arn": arn, "usable": True, "problem": None}
    again = client.put("/v1/organisation/key", json={"key_arn": arn}, headers=headers)
    assert again.status_code == 409  # it has data keys now: too late for another key


@pytest.mark.parametrize("statement", [
    "INSERT INTO platform.organisation_keys (owner_id, source, state, key_arn, activated_at) VALUES "
    "(%(owner)s, 'customer', 'active', %(arn)s, now())",
    "UPDATE platform.organisation_keys SET state = 'active', activated_at = now()",
])
def test_owner_api_role_can_never_activate_a_customer_key(keys: tuple[Fixture, TestClient], statement: str) -> None:
    """Only the control plane activates an organisation's own key, after checking it as its role: the data
    service's database role is refused by the restrictive row policies (migration 0011)."""
    from runtime.db.organisation_keys import request_customer_key
    from runtime.errors import DatabaseError

    fixture, _ = keys
    org = fixture.org("eve@own-key.example")
    assert fixture.context.owner is not None
    database = fixture.context.owner.database
    arn = f"arn:aws:kms:eu-west-1:222222222222:key/{uuid.uuid4()}"
    if statement.startswith("UPDATE"):
        with database.owner_transaction(fixture.principal(org)) as tx:
            request_customer_key(tx, arn)  # what the owner API may write: pending
    with pytest.raises(DatabaseError), database.owner_transaction(fixture.principal(org)) as tx:
        tx.connection.execute(statement, {"owner": org.id, "arn": arn})
