"""The support API (P4): NOT_SENSITIVE views only, read through the support database role.

Served only in support mode (a separate ECS service behind the internal load balancer, reached over
the support VPN). It reads the `support.*` views, the only objects the support role may read; the
role holds no privilege on any SENSITIVE table, which the self-check proves at start-up. Nothing
else is routed in support mode: no owner collection exists there, not even as a 404 handler.
"""

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, JsonValue

from runtime.bounds import CHAIN_POSITION, SUPPORT_PAGE
from runtime.db.connect import ConnectionSource
from runtime.db.support_views import SupportViews
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


def router(connections: ConnectionSource) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["support"])
    views = SupportViews(connections)  # the reads (runtime.db.support_views): this module writes no SQL

    @api.get("/audit-events", name="support.audit_events", response_model=AuditEvents, responses=_PROBLEMS,
             summary="audit events after a chain position, oldest first (no payloads: P14)")
    def audit_events(
        _: StaffMemberDep, after: After = 0, limit: Page = 100
    ) -> dict[str, Any]:
        items = [
            {"id": e.seq, "at": e.at, "event": e.event, "actor_id": str(e.actor_id), "owner_id": str(e.owner_id),
             "fields": dict(e.fields), "prev_hash": e.prev_hash.hex(), "hash": e.hash.hex()}
            for e in views.audit_events(after=after, limit=limit)
        ]
        return {"items": items}

    @api.get("/audit-chain-head", name="support.audit_chain_head", response_model=ChainHead, responses=_PROBLEMS,
             summary="the audit chain's last position and hash")
    def chain_head(_: StaffMemberDep) -> dict[str, Any]:
        head = views.chain_head()
        return {"seq": head.seq, "hash": head.hash.hex()}

    @api.get("/audit-checkpoints", name="support.audit_checkpoints", response_model=Checkpoints,
             responses=_PROBLEMS, summary="keyed checkpoints of the audit chain")
    def checkpoints(
        _: StaffMemberDep, after: After = 0, limit: Page = 100
    ) -> dict[str, Any]:
        found = views.checkpoints(after=after, limit=limit)
        return {"items": [{"seq": c.seq, "at": c.at, "hash": c.hash.hex(), "mac": c.mac.hex()} for c in found]}

    @api.get("/telemetry-events", name="support.telemetry_events", response_model=TelemetryEvents,
             responses=_PROBLEMS, summary="operational telemetry, newest first")
    def telemetry_events(
        _: StaffMemberDep, limit: Page = 100
    ) -> dict[str, Any]:
        found = views.telemetry_events(limit=limit)
        return {"items": [{"id": str(t.id), "at": t.at, "event": t.event, "fields": dict(t.fields)} for t in found]}

    return api
