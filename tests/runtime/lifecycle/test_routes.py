"""The lifecycle routes (P10, P13) mounted in a minimal FastAPI app, on the test cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from runtime.db import Database, OwnerScope
from runtime.lifecycle import ExportFormat
from runtime.lifecycle.jobs import run_export
from runtime.service.lifecycle_routes import lifecycle_router
from tests.runtime.lifecycle.conftest import Organisation, Stack

pytestmark = pytest.mark.postgres


def _client(stack: Stack, launched: list[tuple[str, uuid.UUID, uuid.UUID]]) -> TestClient:
    def member(x_org: str = Header(), x_actor: str = Header()) -> OwnerScope:
        return OwnerScope.parse(owner_id=x_org, actor_id=x_actor, request_id=f"req-{uuid.uuid4().hex[:8]}")

    def admin(x_org: str = Header(), x_actor: str = Header(), x_admin: str = Header(default="")) -> OwnerScope:
        if x_admin != "yes":
            raise HTTPException(403, "only the organisation's admin may do this")
        return member(x_org, x_actor)

    def database() -> Database:
        return stack.app

    def launch(kind: Literal["export", "erase"], owner: uuid.UUID, request: uuid.UUID) -> None:
        launched.append((kind, owner, request))

    app = FastAPI()
    app.include_router(lifecycle_router(admin_scope=admin, owner_scope=member, database=database,
                                        launch=launch))
    return TestClient(app)


def _headers(org: Organisation, *, admin: bool) -> dict[str, str]:
    return {"x-org": str(org.owner_id), "x-actor": str(org.principal.actor_id), "x-admin": "yes" if admin else "no"}


def test_export_request_recorded_with_deadline_and_status_visible(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    launched: list[tuple[str, uuid.UUID, uuid.UUID]] = []
    client, org = _client(lc_stack, launched), make_org()
    denied = client.post("/v1/lifecycle/exports", json={"format": "csv"}, headers=_headers(org, admin=False))
    assert denied.status_code == 403
    answer = client.post("/v1/lifecycle/exports", json={"format": "csv", "contract_ended_at": "2026-01-31T00:00Z"},
                         headers=_headers(org, admin=True))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "requested" and body["deadline"].startswith("2026-03-02") and body["job_started"]
    assert launched == [("export", org.owner_id, uuid.UUID(body["id"]))]
    run_export(lc_stack.export_job(), org.principal, ExportFormat.CSV, tmp_path)  # the job picks it up
    seen = client.get(f"/v1/lifecycle/exports/{body['id']}", headers=_headers(org, admin=True)).json()
    assert seen["status"] == "complete" and seen["row_count"] == org.total and len(seen["manifest_sha256"]) == 64
    listed = client.get("/v1/lifecycle/exports", headers=_headers(org, admin=True)).json()
    assert [r["id"] for r in listed] == [body["id"]]
    other = make_org()
    assert client.get(f"/v1/lifecycle/exports/{body['id']}", headers=_headers(other, admin=True)).status_code == 404


def test_erasure_requested_by_admin_fences_writes_and_shows_receipt(
    lc_stack: Stack, make_org: Callable[..., Organisation]
) -> None:
    launched: list[tuple[str, uuid.UUID, uuid.UUID]] = []
    client, org = _client(lc_stack, launched), make_org()
    assert client.get("/v1/lifecycle/erasure", headers=_headers(org, admin=False)).status_code == 404
    body = {"confirm_organisation_id": str(org.owner_id)}
    assert client.post("/v1/lifecycle/erasure", json=body, headers=_headers(org, admin=False)).status_code == 403
    wrong = client.post("/v1/lifecycle/erasure", json={"confirm_organisation_id": str(uuid.uuid4())},
                        headers=_headers(org, admin=True))
    assert wrong.status_code == 422
    answer = client.post("/v1/lifecycle/erasure", json=body, headers=_headers(org, admin=True))
    assert answer.status_code == 202 and answer.json()["state"] == "requested"
    again = client.post("/v1/lifecycle/erasure", json=body, headers=_headers(org, admin=True)).json()
    assert again["id"] == answer.json()["id"]  # idempotent
    assert client.post("/v1/lifecycle/exports", json={"format": "json"},
                       headers=_headers(org, admin=True)).status_code == 409
    receipt = lc_stack.eraser().erase(org.principal)  # the job
    status = client.get("/v1/lifecycle/erasure", headers=_headers(org, admin=False)).json()
    assert status["state"] == "complete" and status["receipt"] == receipt
    assert [k for k, *_ in launched] == ["erase", "erase"]


def test_erasure_of_unknown_organisation_is_404(lc_stack: Stack) -> None:
    client = _client(lc_stack, [])
    owner, actor = uuid.uuid4(), uuid.uuid4()
    answer = client.post("/v1/lifecycle/erasure", json={"confirm_organisation_id": str(owner)},
                         headers={"x-org": str(owner), "x-actor": str(actor), "x-admin": "yes"})
    assert answer.status_code == 404
