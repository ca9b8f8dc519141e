"""Logs and telemetry carry ids, timings and status codes; payloads never (P7)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.service.logs import configure_logging
from runtime.service.middleware import UNMATCHED
from tests.runtime.service.conftest import Org

CANARY = "PAYLOAD-CANARY-d41d8c"


@pytest.fixture
def captured() -> Any:
    """Every log record of the process, at every level, formatted the way the service writes them."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = configure_logging(logging.DEBUG, stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])


def _traffic(client: TestClient, org: Org, other: Org) -> None:
    created = client.post(
        "/v1/model-calls",
        json={"input": f"{CANARY} alice@example.com", "output": CANARY, "metadata": {CANARY: CANARY}},
        headers=org.headers,
    )
    assert created.status_code == 201
    record = created.json()["id"]
    assert client.get(f"/v1/model-calls/{record}", headers=org.headers).json()["input"].startswith(CANARY)
    client.get("/v1/model-calls", headers=org.headers)
    client.get(f"/v1/model-calls/{record}", headers=other.headers)
    client.patch(f"/v1/model-calls/{record}", json={"output": CANARY}, headers=org.headers)
    client.post("/v1/model-calls", json={"input": 1, "model": CANARY * 100}, headers=org.headers)
    client.post("/v1/model-calls", content=f"{{{CANARY}", headers={**org.headers, "content-type": "application/json"})
    client.get("/v1/model-calls", headers={"Authorization": f"Bearer {CANARY}"})
    client.get(f"/v1/{CANARY}?q={CANARY}", headers=org.headers)


def test_logs_hold_no_payload_of_any_request(captured: io.StringIO, client: TestClient, org_a: Org,
                                             org_b: Org) -> None:
    _traffic(client, org_a, org_b)
    text = captured.getvalue()
    assert text, "nothing was logged"
    assert CANARY not in text and "alice@example.com" not in text


def test_logs_every_request_is_one_telemetry_line_with_ids_timing_and_status(
    captured: io.StringIO, client: TestClient, org_a: Org, org_b: Org
) -> None:
    _traffic(client, org_a, org_b)
    events = [json.loads(json.loads(line)["message"]) for line in captured.getvalue().splitlines()
              if json.loads(line)["logger"] == "platform.telemetry"]
    assert len(events) == 9
    assert all(e["event"] == "request.completed" and e["data_class"] == "not-sensitive" for e in events)
    fields = [e["fields"] for e in events]
    assert [f["status"] for f in fields] == [201, 200, 200, 404, 200, 422, 422, 401, 404]
    assert [f["operation"] for f in fields][:3] == ["model-calls.create", "model-calls.read", "model-calls.list"]
    assert fields[-1]["operation"] == UNMATCHED
    assert all(set(f) == {"service", "operation", "status", "duration_ms", "request_id"} for f in fields)
    assert all(f["service"] == "data" and f["duration_ms"] >= 0 and uuid.UUID(f["request_id"]) for f in fields)


def test_logs_unexpected_error_is_a_500_problem_with_type_and_place_only(
    captured: io.StringIO, client: TestClient, org_a: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.db.records import Records

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"something quoted the payload: {CANARY}")

    monkeypatch.setattr(Records, "insert_plan", broken)
    answer = client.post("/v1/prompts", json={"body": CANARY}, headers=org_a.headers)
    assert answer.status_code == 500
    assert answer.json()["detail"] == "the request failed; report the request id"
    assert CANARY not in answer.text
    text = captured.getvalue()
    assert CANARY not in text
    assert "unexpected ValueError at test_logs.py" in text and answer.json()["request_id"] in text
