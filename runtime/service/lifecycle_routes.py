"""The data service's lifecycle routes (P10, P13): an organisation asks for its export or its erasure, and
follows their status. The work itself is done by the lifecycle job (`python -m runtime export|erase`), which
alone may read the whole organisation, destroy its keys and write the export bucket.

    app = create_app(context, routers=[lifecycle_router(admin_scope=org_admin)])

    POST /v1/lifecycle/exports    {"format": "csv"|"json"|"jsonl", "contract_ended_at"?: T}   admin   202
                                  T: ISO 8601 with a zone, 2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z
    GET  /v1/lifecycle/exports                  admin: the organisation's requests: status, deadline, digest
    GET  /v1/lifecycle/exports/{id}             admin
    POST /v1/lifecycle/exports/{id}/downloads   admin: presigned URLs of a complete export's files and manifest
                                  (15 minutes by default, never past the signing credentials; one audit
                                  event per URL, P13, P14). 409 when not complete or not in the exports bucket;
                                  503 when the service has no exports bucket configured.
    POST /v1/lifecycle/erasure    {"confirm_organisation_id": ORG}                           admin   202
    GET  /v1/lifecycle/erasure                  state, and the signed receipt once complete

    app = create_app(context, routers=[receipt_key_router(public_key=signer.public_key)])

    GET  /v1/erasure-receipts/public-key        the key that signs receipts: key id (the KMS key ARN), PEM

The public key is not secret, but the route is an owner API route like every other (any authenticated member
of an organisation; the load balancer signs browsers in before any route anyway): an owner fetches it once,
keeps it beside its receipts, and verifies them offline with `python -m runtime erase verify-receipt FILE
--public-key key.pem` (runtime/lifecycle/receipt.py documents the signed bytes). It is read from KMS
(kms:GetPublicKey) on the first request and kept.

Exports are the admin's alone (P13: the organisation's admin retrieves its data): requesting, listing, reading
and downloading them; a member gets 403, as for a request. An export request's status, row count and digest say
what the organisation holds and that it is leaving, which is the admin's to share. The erasure's state stays
readable by every member: it refuses their writes from the moment it is requested.

An erasure request takes effect at once: from then on the database refuses every write of the
organisation (and exports), and the job deletes everything. Who is the organisation's admin is the
caller's to decide: `admin_scope` is a FastAPI dependency returning the principal of an admin and
raising 403 for anyone else (there is no default: without one, nobody could be allowed to erase).
Dependencies are injected through the factory, with the data service's own as defaults.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from runtime.audit.events import Action
from runtime.bounds import BoundedDatetime, time_description
from runtime.db import Database, OwnerScope
from runtime.db.errors import translated
from runtime.errors import ErasureInProgressError, ExportDestinationError, UnknownOrganisationError
from runtime.lifecycle import ExportFormat, LifecycleRequests
from runtime.lifecycle.downloads import DownloadUnavailableError, ExportDownloads
from runtime.lifecycle.receipt import VERSION as RECEIPT_VERSION
from runtime.lifecycle.receipt_signing import (
    KEY_SPEC,
    MESSAGE_TYPE,
    SIGNING_ALGORITHM,
    ReceiptPublicKey,
    ReceiptSigningError,
)
from runtime.lifecycle.requests import utc_now
from runtime.service.context import OwnerData, owner_data, owner_scope

log = logging.getLogger("platform.service.lifecycle")


class JobLauncher(Protocol):
    """Starts the lifecycle job for a request (e.g. ECS RunTask of the lifecycle job task definition)."""

    def __call__(self, kind: Literal["export", "erase"], owner_id: uuid.UUID, request_id: uuid.UUID) -> None: ...


class ExportBody(BaseModel):
    format: Literal["csv", "json", "jsonl"]
    contract_ended_at: BoundedDatetime | None = Field(
        default=None, description=time_description("when the contract ended; the deadline is 30 days later. "
                                                   "Default: now"))


class ErasureBody(BaseModel):
    confirm_organisation_id: uuid.UUID = Field(
        description="the organisation's own id, repeated: erasure cannot be undone")


def _database(data: Annotated[OwnerData, Depends(owner_data)]) -> Database:
    return data.database


def lifecycle_router(
    *,
    admin_scope: Callable[..., OwnerScope],
    owner_scope: Callable[..., OwnerScope] = owner_scope,
    database: Callable[..., Database] = _database,
    launch: JobLauncher | None = None,
    downloads: ExportDownloads | None = None,
    clock: Callable[[], datetime] = utc_now,
    prefix: str = "/v1/lifecycle",
) -> APIRouter:
    api = APIRouter(prefix=prefix, tags=["lifecycle"])
    Member = Annotated[OwnerScope, Depends(owner_scope)]
    Admin = Annotated[OwnerScope, Depends(admin_scope)]
    Data = Annotated[Database, Depends(database)]

    def requests(db: Database) -> LifecycleRequests:
        return LifecycleRequests(db, clock=clock)

    def started(kind: Literal["export", "erase"], owner: uuid.UUID, request: uuid.UUID) -> bool:
        if launch is None:
            return False  # the job runs on a schedule, or an operator starts it
        try:
            launch(kind, owner, request)
        except Exception as exc:  # the request is recorded; the scheduled job will pick it up
            log.warning("lifecycle job launch failed: %s", type(exc).__name__)
            return False
        return True

    @api.post("/exports", status_code=202, summary="ask for a portability export (P13)")
    def request_export(body: ExportBody, principal: Admin, db: Data) -> dict[str, Any]:
        try:
            request = requests(db).request_export(principal, ExportFormat(body.format), body.contract_ended_at)
        except ErasureInProgressError:
            raise HTTPException(409, "the organisation is being erased; its data can no longer be exported") from None
        except UnknownOrganisationError:
            raise HTTPException(404, "no such organisation") from None
        return {**request.public(), "job_started": started("export", principal.owner_id, request.id)}

    @api.get("/exports", summary="the organisation's export requests (admin)")
    def list_exports(principal: Admin, db: Data) -> list[dict[str, Any]]:
        return [r.public() for r in requests(db).export_requests(principal)]

    @api.get("/exports/{request_id}", summary="one export request (admin)")
    def get_export(request_id: uuid.UUID, principal: Admin, db: Data) -> dict[str, Any]:
        request = requests(db).export_request(principal, request_id)
        if request is None:
            raise HTTPException(404, "no such export request")
        return request.public()

    @api.post("/exports/{request_id}/downloads", summary="short-lived download URLs of a complete export (P13)")
    def download_export(request_id: uuid.UUID, principal: Admin, db: Data) -> dict[str, Any]:
        request = requests(db).export_request(principal, request_id)
        if request is None:
            raise HTTPException(404, "no such export request")
        if downloads is None:
            raise HTTPException(503, "this service has no exports bucket configured; ask the operator")
        try:
            download = downloads.issue(request)
        except DownloadUnavailableError as exc:
            raise HTTPException(409, str(exc)) from None
        except ExportDestinationError as exc:
            log.warning("export download failed: %s", type(exc).__name__)
            raise HTTPException(502, "the export could not be read from the exports bucket; try again") from None
        with translated(), db.owner_transaction(principal) as tx:  # P14: one event per URL handed out
            for _ in range(download.url_count):
                tx.record(Action.EXPORT, "export_requests", [request.id])
        return download.public()

    @api.post("/erasure", status_code=202, summary="erase the organisation's data (P10): cannot be undone")
    def request_erasure(body: ErasureBody, principal: Admin, db: Data) -> dict[str, Any]:
        if body.confirm_organisation_id != principal.owner_id:
            raise HTTPException(422, "confirm_organisation_id must be your organisation's id")
        try:
            status = requests(db).request_erasure(principal)
        except UnknownOrganisationError:
            raise HTTPException(404, "no such organisation") from None
        return {**status.public(), "job_started": started("erase", principal.owner_id, status.id)}

    @api.get("/erasure", summary="the erasure's state, and its receipt once complete")
    def get_erasure(principal: Member, db: Data) -> dict[str, Any]:
        status = requests(db).erasure_status(principal)
        if status is None:
            raise HTTPException(404, "no erasure was requested")
        return status.public()

    return api


def receipt_key_router(
    *,
    public_key: Callable[[], ReceiptPublicKey],
    owner_scope: Callable[..., OwnerScope] = owner_scope,
    prefix: str = "/v1/erasure-receipts",
) -> APIRouter:
    """The public key that verifies erasure receipts (P10). `public_key`: the signer's (it caches)."""
    api = APIRouter(prefix=prefix, tags=["lifecycle"])
    Member = Annotated[OwnerScope, Depends(owner_scope)]

    @api.get("/public-key", summary="the public key that verifies erasure receipts (P10)")
    def receipt_public_key(principal: Member) -> dict[str, Any]:
        try:
            key = public_key()
        except ReceiptSigningError as exc:
            log.warning("receipt public key unavailable: %s", type(exc).__name__)
            raise HTTPException(503, "the receipt-signing public key cannot be read now; try again later") from None
        return {
            "key_id": key.key_id,
            "key_spec": KEY_SPEC,
            "signing_algorithm": SIGNING_ALGORITHM,
            "message_type": MESSAGE_TYPE,
            "receipt_version": RECEIPT_VERSION,
            "public_key_pem": key.pem,
            "verify": "python -m runtime erase verify-receipt RECEIPT.json --public-key KEY.pem",
        }

    return api


__all__ = ["ErasureBody", "ExportBody", "JobLauncher", "lifecycle_router", "receipt_key_router"]
