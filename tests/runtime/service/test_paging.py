"""Issue 17: keyset paging with authenticated cursors, filters (blind indexes), batch ingest, ETag/If-Match."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.envelope.blind_index import TERM_MAX
from tests.runtime.service.conftest import Org, register
from tests.support.audit_trail import sequence
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer


def _call(model: str = "model-1", **extra: Any) -> dict[str, Any]:
    return {"model": model, "input": "x" * 64, **extra}


def _batch(client: TestClient, org: Org, path: str, items: list[dict[str, Any]]) -> list[str]:
    answer = client.post(f"/v1/{path}/batch", json={"items": items}, headers=org.headers)
    assert answer.status_code == 201, answer.text
    ids: list[str] = answer.json()["ids"]
    assert len(ids) == len(items)
    return ids


def _walk(client: TestClient, org: Org, path: str, limit: int = 100, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/{path}", params=query, headers=org.headers)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


@pytest.fixture(scope="module")
def pager(client: TestClient, issuer: TokenIssuer) -> Org:
    return register(client, issuer, "pia@p.example")


def test_list_paging_1000_records_under_concurrent_inserts_sees_each_exactly_once(
    client: TestClient, pager: Org
) -> None:
    existing = set()
    for _ in range(4):
        existing |= set(_batch(client, pager, "prompts", [{"body": f"p{i}"} for i in range(250)]))
    stop = threading.Event()
    inserted: list[str] = []

    def insert() -> None:  # another client writing while we page
        while not stop.is_set():
            inserted.extend(_batch(client, pager, "prompts", [{"body": "new"}] * 5))
            time.sleep(0.005)

    writer = threading.Thread(target=insert)
    writer.start()
    try:
        seen: list[str] = []
        cursor = None
        while True:
            page = client.get("/v1/prompts", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                              headers=pager.headers).json()
            seen += [item["id"] for item in page["items"]]
            inserted.extend(_batch(client, pager, "prompts", [{"body": "between pages"}] * 3))
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen))  # nothing twice
    assert existing <= set(seen)  # every record that existed when paging began, once
    assert len(inserted) > 0 and set(seen) - existing <= set(inserted)


def test_list_page_answers_items_and_next_cursor_null_at_the_end(client: TestClient, issuer: TokenIssuer) -> None:
    org = register(client, issuer, "quinn@q.example")
    ids = _batch(client, org, "datasets", [{"name": f"d{i}"} for i in range(5)])
    first = client.get("/v1/datasets", params={"limit": 3}, headers=org.headers).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = client.get("/v1/datasets", params={"limit": 3, "cursor": first["next_cursor"]}, headers=org.headers)
    assert len(second.json()["items"]) == 2 and second.json()["next_cursor"] is None
    assert {i["id"] for i in first["items"] + second.json()["items"]} == set(ids)
    times = [(i["created_at"], i["id"]) for i in first["items"] + second.json()["items"]]
    assert times == sorted(times, reverse=True)  # newest first, keyset order (created_at, id)
    assert client.get("/v1/datasets", headers=org.headers).json()["next_cursor"] is None


def _cursor_of(client: TestClient, org: Org, path: str, **params: Any) -> str:
    page = client.get(f"/v1/{path}", params={"limit": 1, **params}, headers=org.headers).json()
    assert page["next_cursor"]
    cursor: str = page["next_cursor"]
    return cursor


def _refused(client: TestClient, org: Org, path: str, cursor: str, **params: Any) -> None:
    answer = client.get(f"/v1/{path}", params={"cursor": cursor, **params}, headers=org.headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["location"] == "query.cursor"


def test_list_forged_and_foreign_cursors_are_422(client: TestClient, org_a: Org, org_b: Org) -> None:
    for org in (org_a, org_b):
        _batch(client, org, "prompts", [{"body": "a"}, {"body": "b"}])
        _batch(client, org, "datasets", [{"name": "a"}, {"name": "b"}])
    mine = _cursor_of(client, org_a, "prompts")
    assert client.get("/v1/prompts", params={"cursor": mine}, headers=org_a.headers).status_code == 200
    _refused(client, org_b, "prompts", mine)  # another organisation's
    _refused(client, org_a, "datasets", mine)  # another collection's
    _refused(client, org_a, "prompts", mine, created_from="2001-01-01T00:00:00Z")  # another filter's
    _refused(client, org_a, "prompts", mine[:-2])  # truncated
    raw = bytearray(base64.urlsafe_b64decode(mine + "=" * (-len(mine) % 4)))
    for at in (1, 12, len(raw) - 1):  # the time, the id, the MAC
        tampered = bytearray(raw)
        tampered[at] ^= 0x01
        _refused(client, org_a, "prompts", base64.urlsafe_b64encode(tampered).rstrip(b"=").decode())
    _refused(client, org_a, "prompts", base64.urlsafe_b64encode(bytes(41)).rstrip(b"=").decode())  # forged
    _refused(client, org_a, "prompts", "A" * 55)


def test_list_cursor_of_an_organisation_without_data_is_422(
    client: TestClient, issuer: TokenIssuer, org_a: Org
) -> None:
    _batch(client, org_a, "prompts", [{"body": "a"}, {"body": "b"}])
    empty = register(client, issuer, "ulla@u.example")
    _refused(client, empty, "prompts", _cursor_of(client, org_a, "prompts"))


def test_list_unknown_query_parameter_is_422_not_ignored(client: TestClient, org_a: Org) -> None:
    for name in ("offset", "page", "dataset"):
        answer = client.get("/v1/prompts", params={name: "1"}, headers=org_a.headers)
        assert answer.status_code == 422 and answer.json()["errors"][0]["location"] == f"query.{name}"


def test_list_filters_by_model_metadata_and_reference_are_exact(client: TestClient, issuer: TokenIssuer) -> None:
    org = register(client, issuer, "rita@r.example")
    [prompt] = _batch(client, org, "prompts", [{"body": "p"}])
    items = [_call("gpt-x", metadata={"env": "prod", "retries": 3}, prompt_id=prompt),
             _call("gpt-x", metadata={"env": "dev"}),
             _call("claude-y", metadata={"env": "prod", "tags": ["a"]}, prompt_id=prompt),
             _call("gpt-x"), _call(), {"input": "no model"}]
    ids = _batch(client, org, "model-calls", items)
    # Enough other values that a 16-bit collision with one of them is likely: the post-filter keeps results exact.
    _batch(client, org, "model-calls", [_call(f"m-{i}", metadata={"env": f"e-{i}"}) for i in range(1000)])

    def found(**params: Any) -> set[str]:
        return set(_walk(client, org, "model-calls", **params))

    assert found(model="gpt-x") == {ids[0], ids[1], ids[3]}
    assert found(model="claude-y") == {ids[2]}
    assert found(model="gpt") == set()
    assert found(metadata=["env=prod"]) == {ids[0], ids[2]}
    assert found(metadata=["env=prod", "retries=3"]) == {ids[0]}
    assert found(metadata=['tags=["a"]']) == {ids[2]}
    assert found(model="gpt-x", metadata=["env=dev"]) == {ids[1]}
    assert found(prompt_id=prompt) == {ids[0], ids[2]}
    assert found(prompt_id=prompt, model="claude-y") == {ids[2]}
    assert found(metadata=["env=prod"], limit=1) == {ids[0], ids[2]}  # paged filter
    bad = client.get("/v1/model-calls", params={"metadata": "no-equals"}, headers=org.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"].startswith("query.metadata")


def test_list_filter_by_created_range_is_bounded_and_exact(client: TestClient, issuer: TokenIssuer) -> None:
    org = register(client, issuer, "sam@s.example")
    ids = _batch(client, org, "datasets", [{"name": "d"}] * 3)
    created = client.get(f"/v1/datasets/{ids[0]}", headers=org.headers).json()["created_at"]
    at = datetime.fromisoformat(created)
    assert set(_walk(client, org, "datasets", created_from=at.isoformat())) == set(ids)
    assert set(_walk(client, org, "datasets", created_before=at.isoformat())) == set()
    later = (at + timedelta(seconds=1)).isoformat()
    assert set(_walk(client, org, "datasets", created_before=later, limit=2)) == set(ids)
    for bad in ("1999-12-31T23:59:59Z", "2026-01-01T00:00:00", "yesterday"):
        answer = client.get("/v1/datasets", params={"created_from": bad}, headers=org.headers)
        assert answer.status_code == 422 and answer.json()["errors"][0]["location"] == "query.created_from"
    assert datetime.now(UTC) > at


def test_list_blind_index_holds_no_plaintext_and_differs_between_organisations(
    client: TestClient, issuer: TokenIssuer, platform_db: PlatformDatabase
) -> None:
    orgs = [register(client, issuer, f"tom{i}@t.example") for i in range(4)]
    ids = [_batch(client, org, "model-calls", [_call("shared-model", metadata={"k": "v"})])[0] for org in orgs]
    with platform_db.admin() as conn:
        rows = conn.execute(
            "SELECT model_index, metadata_index::integer[], model, metadata FROM platform.model_calls "
            "WHERE id = ANY(%s)", [[uuid.UUID(i) for i in ids]]).fetchall()
    assert len(rows) == 4
    for model_index, metadata_index, model, metadata in rows:
        assert isinstance(model_index, int) and 0 <= model_index <= TERM_MAX
        assert len(metadata_index) == 1 and 0 <= metadata_index[0] <= TERM_MAX
        assert b"shared-model" not in bytes(model) and b"shared-model" not in bytes(metadata)
    assert len({r[0] for r in rows}) > 1 and len({r[1][0] for r in rows}) > 1  # keyed per organisation
    for org, record in zip(orgs, ids, strict=True):
        assert _walk(client, org, "model-calls", model="shared-model") == [record]


def test_list_blind_index_follows_patch(client: TestClient, issuer: TokenIssuer) -> None:
    org = register(client, issuer, "val@v.example")
    [record] = _batch(client, org, "model-calls", [_call("before", metadata={"a": "1"})])
    patched = client.patch(f"/v1/model-calls/{record}", json={"model": "after", "metadata": {"a": "2"}},
                           headers=org.headers)
    assert patched.status_code == 200 and patched.json()["model"] == "after"
    assert _walk(client, org, "model-calls", model="before") == []
    assert _walk(client, org, "model-calls", model="after", metadata=["a=2"]) == [record]
    client.patch(f"/v1/model-calls/{record}", json={"model": None}, headers=org.headers)
    assert _walk(client, org, "model-calls", model="after") == []


def test_batch_bad_items_are_422_with_index_field_and_rule_and_nothing_is_stored(
    client: TestClient, issuer: TokenIssuer
) -> None:
    org = register(client, issuer, "wes@w.example")
    items = [_call(), {"model": "m"}, _call(input_tokens=-1), _call(), _call(unknown=1)]
    answer = client.post("/v1/model-calls/batch", json={"items": items}, headers=org.headers)
    assert answer.status_code == 422
    errors = {(e["location"], e["type"]) for e in answer.json()["errors"]}
    assert ("body.items.1.input", "missing") in errors
    assert ("body.items.2.input_tokens", "greater_than_equal") in errors
    assert ("body.items.4.unknown", "extra_forbidden") in errors
    assert not any(location.startswith(("body.items.0", "body.items.3")) for location, _ in errors)
    assert _walk(client, org, "model-calls") == []  # all or nothing
    bodies: list[dict[str, Any]] = [{"items": []}, {"items": [_call()] * 1001}, {}]
    for body in bodies:
        assert client.post("/v1/model-calls/batch", json=body, headers=org.headers).status_code in (413, 422)


def test_batch_is_one_transaction_with_one_audit_event(
    client: TestClient, issuer: TokenIssuer, support_client: TestClient, staff_issuer: TokenIssuer,
    platform_db: PlatformDatabase,
) -> None:
    org = register(client, issuer, "xia@x.example")
    ids = _batch(client, org, "prompts", [{"body": f"b{i}"} for i in range(300)])
    assert set(_walk(client, org, "prompts")) == set(ids)
    sequence(platform_db)  # the sequencer service chains the queued events
    staff = staff_issuer.staff_headers("support-1")
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = support_client.get("/support/v1/audit-events", params={"after": after, "limit": 1000},
                                  headers=staff).json()["items"]
        if not page:
            break
        events += [e for e in page if e["owner_id"] == str(org.id) and e["fields"]["action"] == "write"
                   and e["fields"]["table"] == "prompts"]
        after = page[-1]["id"]
    assert len(events) == 1 and set(events[0]["fields"]["row_ids"]) == set(ids)


def test_batch_reference_to_a_missing_record_is_409_and_stores_nothing(client: TestClient, issuer: TokenIssuer) -> None:
    org = register(client, issuer, "yan@y.example")
    items = [_call(), _call(prompt_id=str(uuid.uuid4()))]
    assert client.post("/v1/model-calls/batch", json={"items": items}, headers=org.headers).status_code == 409
    assert _walk(client, org, "model-calls") == []


def test_etag_if_match_stale_version_is_412_and_changes_nothing(client: TestClient, org_a: Org) -> None:
    [record] = _batch(client, org_a, "datasets", [{"name": "v1"}])
    read = client.get(f"/v1/datasets/{record}", headers=org_a.headers)
    etag = read.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    first = client.patch(f"/v1/datasets/{record}", json={"name": "v2"}, headers={**org_a.headers, "If-Match": etag})
    assert first.status_code == 200 and first.json()["name"] == "v2" and first.headers["ETag"] != etag
    lost = client.patch(f"/v1/datasets/{record}", json={"name": "v3"}, headers={**org_a.headers, "If-Match": etag})
    assert lost.status_code == 412 and lost.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/v1/datasets/{record}", headers=org_a.headers).json()["name"] == "v2"
    weak = {**org_a.headers, "If-Match": "W/" + first.headers["ETag"]}
    assert client.patch(f"/v1/datasets/{record}", json={"name": "v4"}, headers=weak).status_code == 412
    listed = {**org_a.headers, "If-Match": f'"0", {first.headers["ETag"]}'}
    assert client.patch(f"/v1/datasets/{record}", json={"name": "v5"}, headers=listed).status_code == 200
    assert client.delete(f"/v1/datasets/{record}", headers={**org_a.headers, "If-Match": etag}).status_code == 412
    assert client.get(f"/v1/datasets/{record}", headers=org_a.headers).status_code == 200
    assert client.delete(f"/v1/datasets/{record}", headers={**org_a.headers, "If-Match": "*"}).status_code == 204
    gone = client.patch(f"/v1/datasets/{record}", json={"name": "x"}, headers={**org_a.headers, "If-Match": "*"})
    assert gone.status_code == 404


def test_etag_of_another_organisations_record_is_404_not_412(client: TestClient, org_a: Org, org_b: Org) -> None:
    [record] = _batch(client, org_a, "datasets", [{"name": "mine"}])
    etag = client.get(f"/v1/datasets/{record}", headers=org_a.headers).headers["ETag"]
    for method in ("PATCH", "DELETE"):
        answer = client.request(method, f"/v1/datasets/{record}", json={"name": "x"} if method == "PATCH" else None,
                                headers={**org_b.headers, "If-Match": etag})
        assert answer.status_code == 404
