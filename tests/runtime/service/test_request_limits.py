"""Oversized and malformed requests are refused with a 4xx problem that names the rule, not the value."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.service.problems import MEDIA_TYPE
from runtime.service.resources import MAX_JSON_BYTES
from tests.runtime.service.conftest import Org

LIMIT = 131_072  # the test app's body limit (conftest)
CANARY = "LIMITS-CANARY-91c2"


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    document: dict[str, Any] = answer.json()
    assert document["status"] == status and document["detail"] and document["request_id"]
    return document


def test_limits_body_over_the_limit_is_refused_before_it_is_read(client: TestClient, org_a: Org) -> None:
    body = json.dumps({"body": "x" * LIMIT})
    document = _problem(client.post("/v1/prompts", content=body, headers={**org_a.headers,
                                                                          "content-type": "application/json"}), 413)
    assert str(LIMIT) in document["detail"]


def test_limits_streamed_body_over_the_limit_is_refused(client: TestClient, org_a: Org) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while the body streams in
        yield b'{"body": "'
        for _ in range(20):  # 160 KiB
            yield b"y" * 8192
        yield b'"}'

    _problem(client.post("/v1/prompts", content=chunks(), headers={**org_a.headers,
                                                                   "content-type": "application/json"}), 413)


@pytest.mark.parametrize(
    ("case", "content", "location"),
    [
        ("not_json", b"{not json", "body.1"),
        ("empty", b"", "body"),
        ("array", b"[]", "body"),
        ("wrong_type", json.dumps({"body": 42}).encode(), "body.body"),
        ("missing_required", json.dumps({"name": "n"}).encode(), "body.body"),
        ("unknown_field", json.dumps({"body": "b", "owner_id": str(uuid.uuid4())}).encode(), "body.owner_id"),
        ("too_long", json.dumps({"body": "b", "name": "n" * 513}).encode(), "body.name"),
        ("lone_surrogate", b'{"body": "\\ud800"}', "body.body"),
        ("null_required", json.dumps({"body": None}).encode(), "body.body"),
    ],
)
def test_limits_malformed_prompt_is_refused_with_the_rule(
    client: TestClient, org_a: Org, case: str, content: bytes, location: str
) -> None:
    answer = client.post("/v1/prompts", content=content, headers={**org_a.headers, "content-type": "application/json"})
    document = _problem(answer, 422)
    assert document["errors"][0]["location"] == location, document


@pytest.mark.parametrize(
    ("case", "body", "location"),
    [
        ("nan", '{"input": "i", "metadata": {"x": NaN}}', "body.metadata"),
        ("nested_infinity", '{"input": "i", "metadata": {"x": [1, {"y": -Infinity}]}}', "body.metadata"),
        ("lone_surrogate_value", '{"input": "i", "metadata": {"x": ["\\udc00"]}}', "body.metadata"),
        ("lone_surrogate_key", '{"input": "i", "metadata": {"\\ud800": 1}}', "body.metadata"),
        ("negative_tokens", '{"input": "i", "input_tokens": -1}', "body.input_tokens"),
        ("float_tokens", '{"input": "i", "input_tokens": 1.5}', "body.input_tokens"),
        ("string_tokens", '{"input": "i", "input_tokens": "12"}', "body.input_tokens"),
        ("metadata_not_object", '{"input": "i", "metadata": [1]}', "body.metadata"),
        ("bad_reference", '{"input": "i", "prompt_id": "not-a-uuid"}', "body.prompt_id"),
        ("huge_metadata", json.dumps({"input": "i", "metadata": {"k": "v" * MAX_JSON_BYTES}}), "body.metadata"),
    ],
)
def test_limits_malformed_model_call_is_refused_with_the_rule(
    client: TestClient, org_a: Org, case: str, body: str, location: str
) -> None:
    answer = client.post("/v1/model-calls", content=body, headers={**org_a.headers, "content-type": "application/json"})
    assert _problem(answer, 422)["errors"][0]["location"].startswith(location)


def test_limits_deeply_nested_json_is_a_4xx_not_a_crash(client: TestClient, org_a: Org) -> None:
    body = '{"input": "i", "metadata": {"a": ' + "[" * 20_000 + "]" * 20_000 + "}}"
    answer = client.post("/v1/model-calls", content=body, headers={**org_a.headers, "content-type": "application/json"})
    assert 400 <= answer.status_code < 500


def test_limits_wrong_content_type_is_refused(client: TestClient, org_a: Org) -> None:
    answer = client.post("/v1/prompts", content=b"body=hello", headers={
        **org_a.headers, "content-type": "application/x-www-form-urlencoded"})
    assert 400 <= answer.status_code < 500


def test_limits_bad_ids_and_empty_changes_are_refused(client: TestClient, org_a: Org) -> None:
    assert _problem(client.get("/v1/prompts/not-an-id", headers=org_a.headers), 422)["errors"][0]["location"] == (
        "path.record_id"
    )
    created = client.post("/v1/prompts", json={"body": "b"}, headers=org_a.headers).json()["id"]
    assert "at least one field" in _problem(client.patch(f"/v1/prompts/{created}", json={}, headers=org_a.headers),
                                            422)["detail"]
    null_required = client.patch(f"/v1/prompts/{created}", json={"body": None}, headers=org_a.headers)
    assert _problem(null_required, 422)["errors"][0]["location"] == "body.body"


def test_limits_refusals_never_echo_what_was_sent(client: TestClient, org_a: Org) -> None:
    bodies = [
        {"body": 1, "name": CANARY * 40},
        {"body": CANARY, "extra": CANARY},
        {CANARY: CANARY},
    ]
    for body in bodies:
        answer = client.post("/v1/prompts", json=body, headers=org_a.headers)
        assert answer.status_code == 422
        assert CANARY not in answer.text.replace(f"body.{CANARY}", "")  # a field's NAME may be named back


def test_limits_unknown_paths_and_methods_are_problems(client: TestClient, org_a: Org) -> None:
    _problem(client.get("/v1/nothing-here", headers=org_a.headers), 404)
    _problem(client.put("/v1/prompts", json={}, headers=org_a.headers), 405)
