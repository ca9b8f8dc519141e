"""The owner API (P3): create, read, list, update and delete the caller's own records, collection by collection.

Every operation runs in ONE owner-bound transaction (`AsyncDatabase.owner_transaction`, pipelined; single
creates and reads by id of one organisation may share one: runtime/db/groups.py): the database's
row-level security binds it to the caller's organisation, the record API encrypts on the way in and
decrypts on the way out, and the audit ledger gets the access in the same commit (P14). Another
organisation's record is invisible to the query, so it answers exactly like a missing one: 404.

Collections are built from `runtime.service.resources`: /v1/<collection> (POST create, GET list),
/v1/<collection>/batch (POST many) and /v1/<collection>/{record_id} (GET, PATCH, DELETE); /v1/organisation
is the caller's organisation itself.

- Lists page by keyset, newest first: `limit` and the previous page's `next_cursor` as `cursor`; answers
  `{"items": [...], "next_cursor": ...}` (null at the end). Cursors are MAC'd over the organisation, the
  collection and the filter (runtime/db/paging.py): any other cursor is a 422, checked before any query.
  Filters: `created_from` (inclusive), `created_before` (exclusive), the collection's reference ids, and
  for model calls `model` and `metadata=KEY=VALUE` through keyed blind indexes (runtime/envelope/blind_index.py).
  An unknown query parameter is a 422, so a misspelt filter never silently lists everything.
- A batch is all or nothing: every item is validated first (a 422 lists each bad item's index, field and
  rule: `body.items.<index>.<field>`, at most 50), then all are stored in ONE owner transaction with ONE
  audit event, and the answer lists their ids in order.
- GET and PATCH answer an `ETag` (the stored row's version: a digest of its ciphertexts, which every write
  changes). PATCH and DELETE honour `If-Match` (one or more ETags, or *): another version is a 412 and
  nothing changes. Without If-Match they apply unconditionally (last writer wins); send it to prevent
  lost updates. PATCH answers the updated record (200).
"""

import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import to_json

from runtime.db import OwnerScope
from runtime.db.organisation_keys import record_pending, record_registered
from runtime.db.paging import InvalidCursorError, Position, decode_cursor, encode_cursor
from runtime.db.records import Record
from runtime.envelope import OrganisationKeyUnavailableError
from runtime.service.context import LiveOwnerData, LiveOwnerDataDep, OwnerData, OwnerDataDep, OwnerScopeDep
from runtime.service.problems import FieldProblem, problem_response, problem_responses, request_id_of
from runtime.service.resources import (
    ORGANISATION,
    RESOURCES,
    BatchCreated,
    Created,
    Resource,
)

PREFIX: Final = "/v1"
RecordId = uuid.UUID
_COMMON_PROBLEMS: Final = (401, 413, 422, 503)
_BODY_PROBLEMS: Final = (400, 409, *_COMMON_PROBLEMS)  # 400: a body that is not JSON text at all
_ETAG_CHARS: Final = 2048  # If-Match: a few ETags of 34 characters each, or *
IfMatch = Annotated[str | None, Header(
    alias="If-Match", max_length=_ETAG_CHARS,
    description="the ETag(s) of the version you read, or *: another version answers 412 and changes nothing; "
                "without it the change applies to whatever version is stored")]
_ETAG_HEADER: Final = {"ETag": {"description": "the record's version, for If-Match", "schema": {"type": "string"}}}


def _not_found(request: Request, resource: Resource) -> JSONResponse:
    # The same answer for "never existed", "deleted" and "another organisation's" (P3: no oracle).
    return problem_response(404, f"no {resource.model_name} with this id", request_id=request_id_of(request))


def _json_answer(document: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer written by pydantic's serializer (UUIDs, RFC 3339 times), as FastAPI writes a response
    model, at a twentieth of jsonable_encoder's cost: a page is 100 records."""
    return Response(to_json(document), media_type="application/json", headers=headers)


def _etag(record: Record) -> str:
    return f'"{record.version}"'


def _precondition_holds(if_match: str | None, version: str) -> bool:
    """RFC 9110 If-Match with strong comparison: * or a list of quoted ETags (a weak one never matches)."""
    if if_match is None or if_match.strip() == "*":
        return True
    return any(tag.strip() == f'"{version}"' for tag in if_match.split(","))


def _precondition_failed(request: Request) -> JSONResponse:
    return problem_response(412, "the record changed since you read it (If-Match names another version): "
                                 "read it again, then retry with its ETag", request_id=request_id_of(request))


def _bad_cursor(request: Request, exc: InvalidCursorError) -> JSONResponse:
    return problem_response(422, "the request is not valid: see errors (location, rule); fix the named fields",
                            request_id=request_id_of(request),
                            errors=[FieldProblem(location="query.cursor", message=str(exc), type="cursor")])


def _signature(endpoint: Callable[..., Any], body: type[BaseModel] | None, *, with_id: bool,
               query: type[BaseModel] | None = None, if_match: bool = False, data: Any = OwnerDataDep) -> None:
    """Give a generic endpoint its collection's body model, so FastAPI validates it and documents it."""
    p = inspect.Parameter
    parameters = [p("request", p.POSITIONAL_OR_KEYWORD, annotation=Request)]
    if with_id:
        parameters.append(p("record_id", p.POSITIONAL_OR_KEYWORD, annotation=RecordId))
    if body is not None:
        parameters.append(p("body", p.POSITIONAL_OR_KEYWORD, annotation=body))
    if query is not None:
        parameters.append(p("query", p.POSITIONAL_OR_KEYWORD, annotation=Annotated[query, Query()]))
    if if_match:
        parameters.append(p("if_match", p.POSITIONAL_OR_KEYWORD, annotation=IfMatch, default=None))
    parameters += [
        p("principal", p.POSITIONAL_OR_KEYWORD, annotation=OwnerScopeDep),
        p("data", p.POSITIONAL_OR_KEYWORD, annotation=data),
    ]
    if if_match:  # parameters with defaults go last
        parameters.append(parameters.pop(-3))
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]


def collection_router(resource: Resource) -> APIRouter:
    api = APIRouter(prefix=f"{PREFIX}/{resource.path}", tags=[resource.path])
    table, name = resource.table, resource.table.replace("_", "-")

    async def create(request: Request, body: BaseModel, principal: OwnerScope, data: LiveOwnerData) -> Response:
        row_id = await data.groups.insert(principal, table, resource.to_row(body))
        return JSONResponse(
            {"id": str(row_id)}, status_code=201, headers={"Location": f"{PREFIX}/{resource.path}/{row_id}"}
        )

    async def create_batch(request: Request, body: BaseModel, principal: OwnerScope,
                           data: LiveOwnerData) -> Response:
        rows = [resource.to_row(item) for item in getattr(body, "items")]  # noqa: B009 (a generated model)
        await data.key_ready(principal, sum(map(len, rows)), True)
        async with data.database.owner_transaction(principal) as tx:
            # one statement, one audit event for the batch
            ids = await tx.run(data.records.insert_plan(tx, table, rows))
        return JSONResponse({"ids": [str(i) for i in ids]}, status_code=201)

    async def read(request: Request, record_id: RecordId, principal: OwnerScope, data: LiveOwnerData) -> Any:
        found = await data.groups.get(principal, table, record_id)
        if found is None:
            return _not_found(request, resource)
        return _json_answer(resource.to_json(found), headers={"ETag": _etag(found)})

    async def update(request: Request, record_id: RecordId, body: BaseModel, principal: OwnerScope,
                     data: LiveOwnerData, if_match: str | None = None) -> Response:
        values = resource.to_row(body, partial=True)
        if not values:
            return problem_response(422, "give at least one field to change", request_id=request_id_of(request))
        await data.key_ready(principal, len(values), True)
        async with data.database.owner_transaction(principal) as tx:
            if if_match is not None:
                # locks the row until commit
                version = await tx.run(data.records.version_plan(tx, table, record_id))
                if version is None:
                    return _not_found(request, resource)
                if not _precondition_holds(if_match, version):
                    return _precondition_failed(request)
            changed = await tx.run(data.records.update_plan(tx, table, record_id, values))
            found = await tx.run(data.records.get_plan(tx, table, [record_id])) if changed else []
        if not found:
            return _not_found(request, resource)
        return _json_answer(resource.to_json(found[0]), headers={"ETag": _etag(found[0])})

    async def delete(request: Request, record_id: RecordId, principal: OwnerScope, data: LiveOwnerData,
                     if_match: str | None = None) -> Response:
        async with data.database.owner_transaction(principal) as tx:
            if if_match is not None:
                version = await tx.run(data.records.version_plan(tx, table, record_id))
                if version is None:
                    return _not_found(request, resource)
                if not _precondition_holds(if_match, version):
                    return _precondition_failed(request)
            deleted = await tx.run(data.records.delete_plan(tx, table, [record_id]))
        return Response(status_code=204) if deleted else _not_found(request, resource)

    async def list_records(request: Request, query: BaseModel, principal: OwnerScope,
                           data: LiveOwnerData) -> Response:
        list_filter = resource.list_filter(query)
        owner = str(principal.owner_id)
        keys = data.records.owner_keys
        await data.key_ready(principal, 1, False)  # the cursor's key and the index keys derive from it
        after: Position | None = None
        cursor = getattr(query, "cursor", None)
        if cursor is not None:  # checked before any query: a foreign or forged cursor reaches nothing
            try:
                after = decode_cursor(None if keys is None else keys.cursor_key(owner), owner, table, list_filter,
                                      cursor)
            except InvalidCursorError as exc:
                return _bad_cursor(request, exc)
        async with data.database.owner_transaction(principal) as tx:
            found, position = await tx.run(data.records.page_plan(
                tx, table, limit=getattr(query, "limit"), list_filter=list_filter, after=after))  # noqa: B009
        next_cursor = None
        if position is not None and keys is not None:
            key = keys.cursor_key(owner)
            next_cursor = None if key is None else encode_cursor(key, owner, table, list_filter, position)
        return _json_answer({"items": [resource.to_json(r) for r in found], "next_cursor": next_cursor})

    live = LiveOwnerDataDep
    _signature(create, resource.create_model, with_id=False, data=live)
    _signature(create_batch, resource.batch_model, with_id=False, data=live)
    _signature(read, None, with_id=True, data=live)
    _signature(update, resource.patch_model, with_id=True, if_match=True, data=live)
    _signature(delete, None, with_id=True, if_match=True, data=live)
    _signature(list_records, None, with_id=False, query=resource.query_model, data=live)
    model = resource.model_name
    api.add_api_route(
        "", create, methods=["POST"], name=f"{name}.create", status_code=201, response_model=Created,
        summary=f"store a new record ({resource.summary})", responses=problem_responses(*_BODY_PROBLEMS),
    )
    api.add_api_route(
        "/batch", create_batch, methods=["POST"], name=f"{name}.batch", status_code=201,
        response_model=BatchCreated, summary=f"store many new {model}s at once, all or none",
        responses=problem_responses(*_BODY_PROBLEMS),
    )
    api.add_api_route(
        "", list_records, methods=["GET"], name=f"{name}.list", response_model=resource.list_model,
        summary=f"a page of {model}s, newest first, filtered", responses=problem_responses(*_COMMON_PROBLEMS),
    )
    api.add_api_route(
        "/{record_id}", read, methods=["GET"], name=f"{name}.read", response_model=resource.out_model,
        summary=f"one {model}, decrypted",
        responses={200: {"description": "the record", "headers": _ETAG_HEADER},
                   **problem_responses(404, *_COMMON_PROBLEMS)},
    )
    api.add_api_route(
        "/{record_id}", update, methods=["PATCH"], name=f"{name}.update", response_model=resource.out_model,
        summary=f"change some fields of a {model}; answers the changed record",
        responses={200: {"description": "the changed record", "headers": _ETAG_HEADER},
                   **problem_responses(404, 412, *_BODY_PROBLEMS)},
    )
    api.add_api_route(
        "/{record_id}", delete, methods=["DELETE"], name=f"{name}.delete", status_code=204,
        summary=f"delete a {model}", response_class=Response,
        responses=problem_responses(404, 412, *_COMMON_PROBLEMS),
    )
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
        try:
            with data.database.owner_transaction(principal) as tx:
                changed = data.records.update(tx, table, principal.owner_id, row)
                if not changed:
                    data.records.insert(tx, table, [row])
                    record_registered(tx)  # listed for the control plane (ids only)
        except OrganisationKeyUnavailableError:
            # A first registration finds no key yet: ask the control plane for one (ids only, nothing of the
            # body is kept) and answer the typed 503; the scheduled `org provision-keys --pending` creates the
            # key, and the same PUT then succeeds. The request path never creates keys.
            with data.database.owner_transaction(principal) as tx:
                record_pending(tx)
            raise
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
