"""The support API (P4): NOT_SENSITIVE views only, read through the support database role.

Served only in support mode (a separate ECS service behind the internal load balancer, reached over
the support VPN). It reads the `support.*` views, the only objects the support role may read; the
role holds no privilege on any SENSITIVE table, which the self-check proves at start-up. Nothing
else is routed in support mode: no owner collection exists there, not even as a 404 handler.
"""

import json
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from psycopg import sql
from pydantic import BaseModel, Field, JsonValue

from runtime.bounds import CHAIN_POSITION, SUPPORT_PAGE
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.schema import SUPPORT_SCHEMA
from runtime.service.context import StaffMemberDep
from runtime.service.problems import problem_responses

PREFIX: Final = "/support/v1"
_PROBLEMS: Final = problem_responses(401, 422, 503)
After = Annotated[int, Query(ge=CHAIN_POSITION.minimum, le=CHAIN_POSITION.maximum,
                             description="the position to start after")]
Page = Annotated[int, Query(ge=SUPPORT_PAGE.minimum, le=SUPPORT_PAGE.maximum, description="how many at most")]


class AuditEvent(BaseModel):
    id: int = Field(description="position in the hash chain")
    at: datetime
    event: str
    actor_id: str = Field(description="pseudonymous id of who accessed")
    owner_id: str = Field(description="id of the organisation whose data was accessed")
    fields: dict[str, JsonValue] = Field(description="action, table, row ids, row count, request id")
    prev_hash: str = Field(description="hex")
    hash: str = Field(description="hex")


class AuditEvents(BaseModel):
    items: list[AuditEvent]


class ChainHead(BaseModel):
    seq: int
    hash: str = Field(description="hex")


class Checkpoint(BaseModel):
    seq: int
    at: datetime
    hash: str = Field(description="hex")
    mac: str = Field(description="hex")


class Checkpoints(BaseModel):
    items: list[Checkpoint]


class TelemetryEvent(BaseModel):
    id: str
    at: datetime
    event: str
    fields: dict[str, JsonValue]


class TelemetryEvents(BaseModel):
    items: list[TelemetryEvent]


def _view(name: str) -> sql.Identifier:
    return sql.Identifier(SUPPORT_SCHEMA, name)


def _rows(connections: ConnectionSource, query: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with translated(), connections.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(query, params).fetchall()
    return rows


def _document(value: Any) -> dict[str, Any]:
    document = json.loads(value) if isinstance(value, str | bytes) else value
    return document if isinstance(document, dict) else {}


def router(connections: ConnectionSource) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["support"])

    @api.get("/audit-events", name="support.audit_events", response_model=AuditEvents, responses=_PROBLEMS,
             summary="audit events after a chain position, oldest first (no payloads: P14)")
    def audit_events(
        _: StaffMemberDep, after: After = 0, limit: Page = 100
    ) -> dict[str, Any]:
        query = sql.SQL(
            "SELECT id, at, event, actor_id, owner_id, fields, prev_hash, hash FROM {} WHERE id > %s "
            "ORDER BY id LIMIT %s"
        ).format(_view("audit_events"))
        items = [
            {"id": i, "at": at, "event": event, "actor_id": str(actor), "owner_id": str(owner),
             "fields": _document(fields), "prev_hash": bytes(prev).hex(), "hash": bytes(digest).hex()}
            for i, at, event, actor, owner, fields, prev, digest in _rows(connections, query, (after, limit))
        ]
        return {"items": items}

    @api.get("/audit-chain-head", name="support.audit_chain_head", response_model=ChainHead, responses=_PROBLEMS,
             summary="the audit chain's last position and hash")
    def chain_head(_: StaffMemberDep) -> dict[str, Any]:
        rows = _rows(connections, sql.SQL("SELECT seq, hash FROM {}").format(_view("audit_chain_head")), ())
        seq, digest = rows[0] if rows else (0, bytes(32))
        return {"seq": seq, "hash": bytes(digest).hex()}

    @api.get("/audit-checkpoints", name="support.audit_checkpoints", response_model=Checkpoints,
             responses=_PROBLEMS, summary="keyed checkpoints of the audit chain")
    def checkpoints(
        _: StaffMemberDep, after: After = 0, limit: Page = 100
    ) -> dict[str, Any]:
        query = sql.SQL("SELECT seq, at, hash, mac FROM {} WHERE seq > %s ORDER BY seq LIMIT %s").format(
            _view("audit_checkpoints")
        )
        rows = _rows(connections, query, (after, limit))
        return {"items": [{"seq": s, "at": at, "hash": bytes(h).hex(), "mac": bytes(m).hex()} for s, at, h, m in rows]}

    @api.get("/telemetry-events", name="support.telemetry_events", response_model=TelemetryEvents,
             responses=_PROBLEMS, summary="operational telemetry, newest first")
    def telemetry_events(
        _: StaffMemberDep, limit: Page = 100
    ) -> dict[str, Any]:
        query = sql.SQL("SELECT id, at, event, fields FROM {} ORDER BY at DESC LIMIT %s").format(
            _view("telemetry_events")
        )
        rows = _rows(connections, query, (limit,))
        return {"items": [{"id": str(i), "at": at, "event": e, "fields": _document(f)} for i, at, e, f in rows]}

    return api
