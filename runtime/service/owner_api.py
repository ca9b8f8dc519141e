"""The owner API (P3): create, read, list, update and delete the caller's own records, collection by collection.

Every operation runs in ONE owner-bound transaction (`Database.owner_transaction`): the database's
row-level security binds it to the caller's organisation, the record API encrypts on the way in and
decrypts on the way out, and the audit ledger gets the access in the same commit (P14). Another
organisation's record is invisible to the query, so it answers exactly like a missing one: 404.

Collections are built from `runtime.service.resources`: /v1/<collection> (POST create, GET list) and
/v1/<collection>/{record_id} (GET, PATCH, DELETE); /v1/organisation is the caller's organisation itself.
"""

import inspect
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from runtime.db import OwnerScope
from runtime.service.context import OwnerData, OwnerDataDep, OwnerScopeDep
from runtime.service.problems import problem_response, problem_responses, request_id_of
from runtime.service.resources import (
    DEFAULT_LIST_LIMIT,
    LIST_LIMIT_MAX,
    LIST_LIMIT_MIN,
    ORGANISATION,
    RESOURCES,
    Created,
    Resource,
)

PREFIX: Final = "/v1"
RecordId = uuid.UUID
ListLimit = Annotated[int, Query(ge=LIST_LIMIT_MIN, le=LIST_LIMIT_MAX,
                                 description=f"how many, newest first; {LIST_LIMIT_MIN} to {LIST_LIMIT_MAX}")]
_COMMON_PROBLEMS: Final = (401, 413, 422, 503)
_BODY_PROBLEMS: Final = (400, 409, *_COMMON_PROBLEMS)  # 400: a body that is not JSON text at all


def _not_found(request: Request, resource: Resource) -> JSONResponse:
    # The same answer for "never existed", "deleted" and "another organisation's" (P3: no oracle).
    return problem_response(404, f"no {resource.model_name} with this id", request_id=request_id_of(request))


def _signature(endpoint: Callable[..., Any], body: type[BaseModel] | None, *, with_id: bool) -> None:
    """Give a generic endpoint its collection's body model, so FastAPI validates it and documents it."""
    p = inspect.Parameter
    parameters = [p("request", p.POSITIONAL_OR_KEYWORD, annotation=Request)]
    if with_id:
        parameters.append(p("record_id", p.POSITIONAL_OR_KEYWORD, annotation=RecordId))
    if body is not None:
        parameters.append(p("body", p.POSITIONAL_OR_KEYWORD, annotation=body))
    parameters += [
        p("principal", p.POSITIONAL_OR_KEYWORD, annotation=OwnerScopeDep),
        p("data", p.POSITIONAL_OR_KEYWORD, annotation=OwnerDataDep),
    ]
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]


def collection_router(resource: Resource) -> APIRouter:
    api = APIRouter(prefix=f"{PREFIX}/{resource.path}", tags=[resource.path])
    table, name = resource.table, resource.table.replace("_", "-")

    def create(request: Request, body: BaseModel, principal: OwnerScope, data: OwnerData) -> Response:
        row = resource.to_row(body)
        with data.database.owner_transaction(principal) as tx:
            [row_id] = data.records.insert(tx, table, [row])
        return JSONResponse(
            {"id": str(row_id)}, status_code=201, headers={"Location": f"{PREFIX}/{resource.path}/{row_id}"}
        )

    def read(request: Request, record_id: RecordId, principal: OwnerScope, data: OwnerData) -> Any:
        with data.database.owner_transaction(principal) as tx:
            found = data.records.get(tx, table, [record_id])
        return resource.to_json(found[0]) if found else _not_found(request, resource)

    def update(request: Request, record_id: RecordId, body: BaseModel, principal: OwnerScope,
               data: OwnerData) -> Response:
        values = resource.to_row(body, partial=True)
        if not values:
            return problem_response(422, "give at least one field to change", request_id=request_id_of(request))
        with data.database.owner_transaction(principal) as tx:
            changed = data.records.update(tx, table, record_id, values)
        return Response(status_code=204) if changed else _not_found(request, resource)

    def delete(request: Request, record_id: RecordId, principal: OwnerScope, data: OwnerData) -> Response:
        with data.database.owner_transaction(principal) as tx:
            deleted = data.records.delete(tx, table, [record_id])
        return Response(status_code=204) if deleted else _not_found(request, resource)

    _signature(create, resource.create_model, with_id=False)
    _signature(read, None, with_id=True)
    _signature(update, resource.patch_model, with_id=True)
    _signature(delete, None, with_id=True)
    model = resource.model_name
    api.add_api_route(
        "", create, methods=["POST"], name=f"{name}.create", status_code=201, response_model=Created,
        summary=f"store a new record ({resource.summary})", responses=problem_responses(*_BODY_PROBLEMS),
    )
    api.add_api_route(
        "/{record_id}", read, methods=["GET"], name=f"{name}.read", response_model=resource.out_model,
        summary=f"one {model}, decrypted", responses=problem_responses(404, *_COMMON_PROBLEMS),
    )
    api.add_api_route(
        "/{record_id}", update, methods=["PATCH"], name=f"{name}.update", status_code=204,
        summary=f"change some fields of a {model}", response_class=Response,
        responses=problem_responses(404, *_BODY_PROBLEMS),
    )
    api.add_api_route(
        "/{record_id}", delete, methods=["DELETE"], name=f"{name}.delete", status_code=204,
        summary=f"delete a {model}", response_class=Response, responses=problem_responses(404, *_COMMON_PROBLEMS),
    )

    @api.get("", name=f"{name}.list", response_model=resource.list_model, summary=f"the newest {model}s",
             responses=problem_responses(*_COMMON_PROBLEMS))
    def list_records(
        principal: OwnerScopeDep, data: OwnerDataDep, limit: ListLimit = DEFAULT_LIST_LIMIT
    ) -> dict[str, Any]:
        with data.database.owner_transaction(principal) as tx:
            found = data.records.newest(tx, table, limit=limit)
        return {"items": [resource.to_json(r) for r in found]}

    return api


def organisation_router(resource: Resource = ORGANISATION) -> APIRouter:
    """GET and PUT /v1/organisation: the caller's organisation, whose id is the owner id (from the token).
    Removing it and all its data is erasure (P10), which the lifecycle routes own."""
    api = APIRouter(prefix=f"{PREFIX}/{resource.path}", tags=[resource.path])
    table = resource.table

    def read(request: Request, principal: OwnerScope, data: OwnerData) -> Any:
        with data.database.owner_transaction(principal) as tx:
            found = data.records.get(tx, table, [principal.owner_id])
        if not found:
            return problem_response(
                404, "your organisation is not registered yet: PUT /v1/organisation", request_id=request_id_of(request)
            )
        return resource.to_json(found[0])

    def put(request: Request, body: BaseModel, principal: OwnerScope, data: OwnerData) -> Response:
        row = resource.to_row(body)
        with data.database.owner_transaction(principal) as tx:
            changed = data.records.update(tx, table, principal.owner_id, row)
            if not changed:
                data.records.insert(tx, table, [row])
        return JSONResponse({"id": str(principal.owner_id)}, status_code=200 if changed else 201)

    _signature(read, None, with_id=False)
    _signature(put, resource.create_model, with_id=False)
    api.add_api_route(
        "", read, methods=["GET"], name="organisation.read", response_model=resource.out_model,
        summary="your organisation, decrypted", responses=problem_responses(404, 401, 503),
    )
    api.add_api_route(
        "", put, methods=["PUT"], name="organisation.put", response_model=Created,
        summary="register your organisation (201) or replace its details (200)",
        responses={201: {"model": Created, "description": "registered"}, **problem_responses(*_BODY_PROBLEMS)},
    )
    return api


def routers() -> list[APIRouter]:
    return [organisation_router(), *(collection_router(r) for r in RESOURCES)]
