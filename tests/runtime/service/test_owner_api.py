"""The owner API end to end on the real database: every collection, two organisations, every verb (P3, P14)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.service.context import ServiceContext
from runtime.service.resources import RESOURCES, check_coverage
from tests.runtime.service.conftest import Org, register
from tests.support.audit_trail import sequence
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

Refs = dict[str, str]
# A valid body per collection; references point at records the same organisation created before.
SAMPLES: dict[str, Callable[[Refs], dict[str, Any]]] = {
    "prompts": lambda refs: {"name": "greeting", "body": "Say hello to {name}, in French."},
    "model-calls": lambda refs: {
        "prompt_id": refs["prompts"], "model": "model-1", "input": "x" * 1024, "output": "Bonjour !",
        "input_tokens": 12, "output_tokens": 3, "metadata": {"route": "chat", "tags": ["a", 1, True, None]},
    },
    "datasets": lambda refs: {"name": "greetings", "description": "how to say hello"},
    "dataset-items": lambda refs: {"dataset_id": refs["datasets"], "input": "hello", "expected_output": "bonjour"},
    "evaluation-results": lambda refs: {
        "model_call_id": refs["model-calls"], "dataset_item_id": refs["dataset-items"], "evaluator": "exact-match",
        "score": 0.75, "details": "close enough",
    },
    "users": lambda refs: {"email": "carol@example.com", "display_name": "Carol"},
}
CHANGES: dict[str, dict[str, Any]] = {
    "prompts": {"name": None},
    "model-calls": {"output": "Salut !", "output_tokens": 2},
    "datasets": {"description": "renamed"},
    "dataset-items": {"expected_output": "salut"},
    "evaluation-results": {"score": -1.5},
    "users": {"display_name": "Caroline"},
}
PATHS = [r.path for r in RESOURCES]


def _create_all(client: TestClient, org: Org) -> Refs:
    refs: Refs = {}
    for path in PATHS:  # in dependency order
        answer = client.post(f"/v1/{path}", json=SAMPLES[path](refs), headers=org.headers)
        assert answer.status_code == 201, answer.text
        refs[path] = answer.json()["id"]
        assert answer.headers["location"] == f"/v1/{path}/{refs[path]}"
    return refs


@pytest.fixture(scope="module")
def a_records(client: TestClient, org_a: Org) -> Refs:
    return _create_all(client, org_a)


def _without_request_id(answer: Any) -> dict[str, Any]:
    document = dict(answer.json())
    assert document.pop("request_id")
    return document


def test_owner_api_serves_every_sensitive_table_of_the_data_layer() -> None:
    assert check_coverage() == []


@pytest.mark.parametrize("path", PATHS)
def test_owner_api_collection_round_trip_create_read_list_update_delete(
    client: TestClient, org_a: Org, a_records: Refs, path: str
) -> None:
    body = SAMPLES[path](a_records)
    created = client.post(f"/v1/{path}", json=body, headers=org_a.headers)
    assert created.status_code == 201
    record_id = created.json()["id"]

    read = client.get(f"/v1/{path}/{record_id}", headers=org_a.headers)
    assert read.status_code == 200
    document = read.json()
    assert document["id"] == record_id and document["created_at"]
    assert {k: document[k] for k in body} == body

    listed = client.get(f"/v1/{path}", params={"limit": 100}, headers=org_a.headers)
    assert record_id in {item["id"] for item in listed.json()["items"]}

    patched = client.patch(f"/v1/{path}/{record_id}", json=CHANGES[path], headers=org_a.headers)
    assert patched.status_code == 200 and {k: patched.json()[k] for k in CHANGES[path]} == CHANGES[path]
    changed = client.get(f"/v1/{path}/{record_id}", headers=org_a.headers)
    assert changed.json() == patched.json() and changed.headers["ETag"] == patched.headers["ETag"]

    assert client.delete(f"/v1/{path}/{record_id}", headers=org_a.headers).status_code == 204
    assert client.get(f"/v1/{path}/{record_id}", headers=org_a.headers).status_code == 404
    assert client.delete(f"/v1/{path}/{record_id}", headers=org_a.headers).status_code == 404


@pytest.mark.parametrize("path", PATHS)
def test_owner_api_other_organisation_gets_404_like_a_missing_record_in_every_verb(
    client: TestClient, org_a: Org, org_b: Org, a_records: Refs, path: str
) -> None:
    theirs, missing = a_records[path], str(uuid.uuid4())
    change = CHANGES[path]
    for method, extra in (("GET", {}), ("PATCH", {"json": change}), ("DELETE", {})):
        other = client.request(method, f"/v1/{path}/{theirs}", headers=org_b.headers, **extra)
        absent = client.request(method, f"/v1/{path}/{missing}", headers=org_b.headers, **extra)
        assert other.status_code == absent.status_code == 404, method
        assert _without_request_id(other) == _without_request_id(absent), method
        assert other.headers.keys() == absent.headers.keys()
    listed = client.get(f"/v1/{path}", params={"limit": 100}, headers=org_b.headers).json()["items"]
    assert theirs not in {item["id"] for item in listed}
    # Nothing B did changed A's record.
    mine = client.get(f"/v1/{path}/{theirs}", headers=org_a.headers)
    assert mine.status_code == 200
    assert {k: mine.json()[k] for k in SAMPLES[path](a_records)} == SAMPLES[path](a_records)


@pytest.mark.parametrize(
    ("path", "field"),
    [("model-calls", "prompt_id"), ("dataset-items", "dataset_id"), ("evaluation-results", "model_call_id")],
)
def test_owner_api_reference_to_another_organisations_record_is_refused_like_a_missing_one(
    client: TestClient, org_b: Org, a_records: Refs, path: str, field: str
) -> None:
    b_refs = _create_all(client, org_b)
    referenced = {"prompt_id": "prompts", "dataset_id": "datasets", "model_call_id": "model-calls"}[field]
    theirs = {**SAMPLES[path](b_refs), field: a_records[referenced]}
    missing = {**SAMPLES[path](b_refs), field: str(uuid.uuid4())}
    other = client.post(f"/v1/{path}", json=theirs, headers=org_b.headers)
    absent = client.post(f"/v1/{path}", json=missing, headers=org_b.headers)
    assert other.status_code == absent.status_code == 409
    assert _without_request_id(other) == _without_request_id(absent)


def test_owner_api_organisation_is_registered_then_replaced(client: TestClient, issuer: TokenIssuer) -> None:
    org = uuid.uuid4()
    headers = issuer.headers("dora@d.example", org)
    missing = client.get("/v1/organisation", headers=headers)
    assert missing.status_code == 404 and "PUT /v1/organisation" in missing.json()["detail"]
    first = client.put("/v1/organisation", json={"name": "D", "billing_email": "billing@d.example"}, headers=headers)
    assert first.status_code == 201 and first.json() == {"id": str(org)}
    second = client.put("/v1/organisation", json={"name": "D2"}, headers=headers)
    assert second.status_code == 200
    assert client.get("/v1/organisation", headers=headers).json() | {"created_at": None} == {
        "id": str(org), "created_at": None, "name": "D2", "billing_email": None,
    }


def test_owner_api_write_before_the_organisation_is_registered_says_what_to_do(
    client: TestClient, issuer: TokenIssuer
) -> None:
    headers = issuer.headers("eve@e.example", uuid.uuid4())
    answer = client.post("/v1/prompts", json={"body": "hi"}, headers=headers)
    assert answer.status_code == 409
    assert "PUT /v1/organisation" in answer.json()["detail"]


def test_owner_api_list_limit_is_bounded(client: TestClient, org_a: Org) -> None:
    for limit in (0, 101, "many"):
        answer = client.get("/v1/prompts", params={"limit": limit}, headers=org_a.headers)
        assert answer.status_code == 422 and answer.json()["errors"][0]["location"] == "query.limit"
    assert len(client.get("/v1/prompts", params={"limit": 1}, headers=org_a.headers).json()["items"]) == 1


def test_owner_api_accesses_are_in_the_audit_ledger_with_pseudonymous_actor_and_no_payload(
    client: TestClient, support_client: TestClient, issuer: TokenIssuer, staff_issuer: TokenIssuer,
    owner_context: ServiceContext, platform_db: PlatformDatabase,
) -> None:
    org = register(client, issuer, "frank@f.example")
    payload = "AUDIT-CANARY-7f3a"
    created = client.post("/v1/prompts", json={"body": payload}, headers=org.headers).json()["id"]
    client.get(f"/v1/prompts/{created}", headers=org.headers)
    sequence(platform_db)  # the sequencer service chains the queued events
    support_headers = staff_issuer.staff_headers("support-1")
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = support_client.get("/support/v1/audit-events", params={"after": after, "limit": 1000},
                                  headers=support_headers).json()["items"]
        if not page:
            break
        events += [e for e in page if e["owner_id"] == str(org.id)]
        after = page[-1]["id"]
    actions = [(e["fields"]["action"], e["fields"]["table"]) for e in events]
    assert ("write", "prompts") in actions and ("read", "prompts") in actions
    actor = str(owner_context.identities.actor_id(org.user))
    assert {e["actor_id"] for e in events} == {actor}
    assert all(created in e["fields"]["row_ids"] for e in events if e["fields"]["table"] == "prompts")
    assert payload not in str(events) and org.user not in str(events)
