"""The typed client (runtime.client) against the real service in-process: records CRUD, batches, pages walked
by cursor, filters, PATCH and DELETE with If-Match, and each error answer as its typed exception carrying the
problem's status, type and field errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from runtime.client import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PlatformClient,
    PreconditionFailedError,
    ValidationError,
)
from tests.runtime.service.conftest import Org, register
from tests.support.client import platform_client
from tests.support.tokens import TokenIssuer


@pytest.fixture(scope="module")
def org(client: TestClient, issuer: TokenIssuer) -> Org:
    return register(client, issuer, "cleo@client.example")


@pytest.fixture(scope="module")
def api(client: TestClient, org: Org) -> PlatformClient:
    return platform_client(client, org.headers)


def test_client_registers_reads_and_replaces_the_organisation(client: TestClient, issuer: TokenIssuer) -> None:
    organisation = uuid.uuid4()
    api = platform_client(client, issuer.headers("dora@client.example", organisation))
    assert api.organisation.put({"name": "Dora's"}) is True
    assert api.organisation.put({"name": "Dora's ltd", "billing_email": "bills@dora.example"}) is False
    assert api.organisation.get()["name"] == "Dora's ltd"
    assert api.organisation.get()["id"] == str(organisation)


def test_client_creates_reads_updates_with_if_match_and_deletes(api: PlatformClient) -> None:
    record_id = api.prompts.create({"name": "greeting", "body": "Say hello"})
    read = api.prompts.get(record_id)
    assert read.record["body"] == "Say hello" and read.etag.startswith('"')
    changed = api.prompts.update(record_id, {"body": "Say goodbye"}, if_match=read.etag)
    assert changed.record["body"] == "Say goodbye" and changed.etag != read.etag
    with pytest.raises(PreconditionFailedError) as stale:  # the version read first is gone
        api.prompts.update(record_id, {"body": "lost update"}, if_match=read.etag)
    assert stale.value.status == 412 and stale.value.request_id
    with pytest.raises(PreconditionFailedError):
        api.prompts.delete(record_id, if_match=read.etag)
    api.prompts.delete(record_id, if_match=changed.etag)
    with pytest.raises(NotFoundError) as gone:
        api.prompts.get(record_id)
    assert (gone.value.status, gone.value.type) == (404, "about:blank")


def test_client_batch_then_every_page_by_cursor_once(api: PlatformClient) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"
    ids = api.model_calls.create_many([{"model": model, "input": f"q{i}", "metadata": {"i": i % 3}}
                                       for i in range(25)])
    walked = [r["id"] for r in api.model_calls.iterate(page_size=7, model=model)]
    assert sorted(walked) == sorted(ids) and len(walked) == 25
    first = api.model_calls.page(limit=10, model=model)
    assert len(first.items) == 10 and first.next_cursor is not None
    only = [r["metadata"] for r in api.model_calls.iterate(model=model, metadata={"i": 1})]
    assert only == [{"i": 1}] * 8
    since = datetime.now(UTC) + timedelta(hours=1)
    assert api.model_calls.page(model=model, created_from=since).items == []


def test_client_errors_are_typed_with_the_problem_fields(api: PlatformClient, client: TestClient) -> None:
    with pytest.raises(ValidationError) as bad_batch:
        api.model_calls.create_many([{"input": "ok"}, {"model": "no input"}])  # type: ignore[typeddict-item]
    assert bad_batch.value.status == 422
    assert [e["location"] for e in bad_batch.value.errors] == ["body.items.1.input"]
    with pytest.raises(ValidationError) as bad_cursor:
        api.model_calls.page(cursor="forged")
    assert bad_cursor.value.errors[0]["location"] == "query.cursor"
    with pytest.raises(ConflictError):  # a reference to nothing
        api.dataset_items.create({"dataset_id": str(uuid.uuid4()), "input": "x"})
    with pytest.raises(AuthenticationError) as anonymous:
        platform_client(client, {}).prompts.page()
    assert anonymous.value.status == 401
    with pytest.raises(ValueError, match="takes no"):  # refused before sending: not a filter of prompts
        api.prompts.page(model="m")


def test_client_probes(api: PlatformClient) -> None:
    assert api.alive() and api.ready()
