"""The typed client of the data service's owner API and lifecycle routes.

Every call goes through one of `ROUTES` (method, path template, query parameters, headers, body): the
OpenAPI coverage test (tests/runtime/service/test_client_coverage.py) checks them against the service's description
in both directions, so a route, method or parameter the client lacks, or one the service lacks, fails it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar, cast
from urllib.parse import quote, urlencode

from runtime.client import types as t
from runtime.client.errors import ApiError, api_error
from runtime.client.transport import Answer, Transport, UrllibTransport


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /v1/{collection}/{record_id}: {collection} is each collection's path
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    body: bool = False


LIST_QUERY: Final = ("limit", "cursor", "created_from", "created_before")
# Each collection's filters beyond LIST_QUERY: its reference ids and its blind-indexed fields.
COLLECTION_FILTERS: Final[Mapping[str, tuple[str, ...]]] = {
    "prompts": (),
    "model-calls": ("prompt_id", "model", "metadata"),
    "datasets": (),
    "dataset-items": ("dataset_id",),
    "evaluation-results": ("model_call_id", "dataset_item_id"),
    "users": (),
}
_RECORD = "/v1/{collection}/{record_id}"
ROUTES: Final[Mapping[str, Route]] = {
    "healthz": Route("GET", "/healthz"),
    "readyz": Route("GET", "/readyz"),
    "organisation.read": Route("GET", "/v1/organisation"),
    "organisation.put": Route("PUT", "/v1/organisation", body=True),
    "create": Route("POST", "/v1/{collection}", body=True),
    "batch": Route("POST", "/v1/{collection}/batch", body=True),
    "list": Route("GET", "/v1/{collection}", query=LIST_QUERY),  # + the collection's filters
    "read": Route("GET", _RECORD),
    "update": Route("PATCH", _RECORD, headers=("If-Match",), body=True),
    "delete": Route("DELETE", _RECORD, headers=("If-Match",)),
    "exports.request": Route("POST", "/v1/lifecycle/exports", body=True),
    "exports.list": Route("GET", "/v1/lifecycle/exports"),
    "exports.read": Route("GET", "/v1/lifecycle/exports/{request_id}"),
    "exports.downloads": Route("POST", "/v1/lifecycle/exports/{request_id}/downloads"),
    "erasure.request": Route("POST", "/v1/lifecycle/erasure", body=True),
    "erasure.read": Route("GET", "/v1/lifecycle/erasure"),
    "receipt_key": Route("GET", "/v1/erasure-receipts/public-key"),
}

R = TypeVar("R")  # a record as read back
F = TypeVar("F")  # the fields a create takes


@dataclass(frozen=True)
class Versioned(Generic[R]):
    """A record and its ETag (its version: give it as `if_match` to update or delete only that version)."""

    record: R
    etag: str


@dataclass(frozen=True)
class Page(Generic[R]):
    items: list[R]
    next_cursor: str | None  # None: the last page


class _Connection:
    """Sends a route's request with the caller's credential; answers the decoded JSON or raises ApiError."""

    def __init__(self, transport: Transport, headers: Mapping[str, str]) -> None:
        self._transport = transport
        self._headers = dict(headers)

    def call(self, name: str, *, path: Mapping[str, str] | None = None, query: Sequence[tuple[str, str]] = (),
             headers: Mapping[str, str] | None = None, body: Any = None, collection: str | None = None) -> Answer:
        route = ROUTES[name]
        target = route.template.replace("{collection}", collection or "")
        for key, value in (path or {}).items():
            target = target.replace("{" + key + "}", quote(value, safe=""))
        allowed = set(route.query) | set(COLLECTION_FILTERS.get(collection or "", ()) if name == "list" else ())
        unknown = {k for k, _ in query} - allowed
        if unknown or (headers and set(headers) - set(route.headers)):
            raise ValueError(f"{name} takes no {sorted(unknown or set(headers or ()))}")
        if query:
            target += "?" + urlencode(query)
        sent = {**self._headers, **(headers or {})}
        data = None
        if route.body:
            data = json.dumps(body if body is not None else {}).encode()
            sent["Content-Type"] = "application/json"
        answer = self._transport.send(route.method, target, headers=sent, body=data)
        if answer.status >= 400:
            raise api_error(answer.status, _problem(answer), answer.headers.get("retry-after"))
        return answer


def _problem(answer: Answer) -> Mapping[str, Any]:
    try:
        document = json.loads(answer.body)
    except ValueError:
        document = None
    return document if isinstance(document, dict) else {"detail": answer.body[:200].decode(errors="replace")}


def _json(answer: Answer) -> Any:
    return json.loads(answer.body) if answer.body else None


def _time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("give times with a time zone (e.g. datetime.now(UTC))")
        return value.isoformat()
    return value


class Collection(Generic[R, F]):
    """One collection of the owner API, e.g. client.model_calls over /v1/model-calls."""

    def __init__(self, connection: _Connection, path: str) -> None:
        self._c = connection
        self.path = path
        self.filters = COLLECTION_FILTERS[path]

    def create(self, fields: F) -> str:
        """Store a new record; its id."""
        return str(_json(self._c.call("create", collection=self.path, body=fields))["id"])

    def create_many(self, items: Sequence[F]) -> list[str]:
        """Store up to 1,000 new records at once, all or none (a 422 names each bad item); their ids, in order."""
        return [str(i) for i in _json(self._c.call("batch", collection=self.path, body={"items": list(items)}))["ids"]]

    def get(self, record_id: str) -> Versioned[R]:
        answer = self._c.call("read", collection=self.path, path={"record_id": record_id})
        return Versioned(cast(R, _json(answer)), answer.headers.get("etag", ""))

    def update(self, record_id: str, changes: Mapping[str, Any], *, if_match: str | None = None) -> Versioned[R]:
        """Change some fields; with `if_match` (an ETag) only that version (else PreconditionFailedError)."""
        answer = self._c.call("update", collection=self.path, path={"record_id": record_id}, body=dict(changes),
                              headers=None if if_match is None else {"If-Match": if_match})
        return Versioned(cast(R, _json(answer)), answer.headers.get("etag", ""))

    def delete(self, record_id: str, *, if_match: str | None = None) -> None:
        self._c.call("delete", collection=self.path, path={"record_id": record_id},
                     headers=None if if_match is None else {"If-Match": if_match})

    def page(self, *, limit: int | None = None, cursor: str | None = None, created_from: datetime | str | None = None,
             created_before: datetime | str | None = None, metadata: Mapping[str, Any] | None = None,
             **filters: str) -> Page[R]:
        """One page, newest first. Filters: the collection's reference ids and indexed fields (`self.filters`),
        `metadata` as {key: value} (each pair must match)."""
        query: list[tuple[str, str]] = []
        for name, value in (("limit", limit), ("cursor", cursor)):
            if value is not None:
                query.append((name, str(value)))
        for name, at in (("created_from", created_from), ("created_before", created_before)):
            if at is not None:
                query.append((name, _time(at)))
        query += [(name, str(value)) for name, value in filters.items()]
        for key, value in (metadata or {}).items():
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
            query.append(("metadata", f"{key}={text}"))
        document = _json(self._c.call("list", collection=self.path, query=query))
        return Page(cast(list[R], document["items"]), document["next_cursor"])

    def iterate(self, *, page_size: int = 100, **filters: Any) -> Iterator[R]:
        """Every matching record, newest first, page by page (each next page by its cursor)."""
        cursor: str | None = None
        while True:
            page = self.page(limit=page_size, cursor=cursor, **filters)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class Organisation:
    def __init__(self, connection: _Connection) -> None:
        self._c = connection

    def get(self) -> t.Organisation:
        return cast(t.Organisation, _json(self._c.call("organisation.read")))

    def put(self, fields: t.OrganisationFields) -> bool:
        """Register the organisation (True) or replace its details (False)."""
        return self._c.call("organisation.put", body=fields).status == 201


class Exports:
    """Portability exports (P13): requests, their status, and the admin's download URLs."""

    def __init__(self, connection: _Connection) -> None:
        self._c = connection

    def request(self, export_format: t.ExportFormat, *,
                contract_ended_at: datetime | str | None = None) -> t.RequestedExport:
        body: dict[str, Any] = {"format": export_format}
        if contract_ended_at is not None:
            body["contract_ended_at"] = _time(contract_ended_at)
        return cast(t.RequestedExport, _json(self._c.call("exports.request", body=body)))

    def list(self) -> list[t.ExportRequest]:
        return cast(list[t.ExportRequest], _json(self._c.call("exports.list")))

    def get(self, request_id: str) -> t.ExportRequest:
        return cast(t.ExportRequest, _json(self._c.call("exports.read", path={"request_id": request_id})))

    def downloads(self, request_id: str) -> t.ExportDownload:
        """Short-lived presigned URLs of a complete export's files and manifest (fetch them with
        runtime.client.fetch before `expires_at`)."""
        return cast(t.ExportDownload, _json(self._c.call("exports.downloads", path={"request_id": request_id})))


class Erasure:
    def __init__(self, connection: _Connection) -> None:
        self._c = connection

    def request(self, confirm_organisation_id: str) -> t.RequestedErasure:
        """Erase the organisation and all its data (P10): cannot be undone."""
        body = {"confirm_organisation_id": confirm_organisation_id}
        return cast(t.RequestedErasure, _json(self._c.call("erasure.request", body=body)))

    def status(self) -> t.ErasureStatus:
        return cast(t.ErasureStatus, _json(self._c.call("erasure.read")))

    def receipt_public_key(self) -> t.ReceiptPublicKey:
        return cast(t.ReceiptPublicKey, _json(self._c.call("receipt_key")))


class PlatformClient:
    """The owner API of one organisation, as one caller (its credential in `headers`).

        client = PlatformClient.connect("https://data.example.com", token=TOKEN)
        prompt_id = client.prompts.create({"body": "Summarise: {text}"})
        for call in client.model_calls.iterate(model="gpt-4o", metadata={"env": "prod"}): ...
    """

    def __init__(self, transport: Transport, *, headers: Mapping[str, str] | None = None) -> None:
        connection = _Connection(transport, headers or {})
        self._c = connection
        self.organisation = Organisation(connection)
        self.prompts: Collection[t.Prompt, t.PromptFields] = Collection(connection, "prompts")
        self.model_calls: Collection[t.ModelCall, t.ModelCallFields] = Collection(connection, "model-calls")
        self.datasets: Collection[t.Dataset, t.DatasetFields] = Collection(connection, "datasets")
        self.dataset_items: Collection[t.DatasetItem, t.DatasetItemFields] = Collection(connection, "dataset-items")
        self.evaluation_results: Collection[t.EvaluationResult, t.EvaluationResultFields] = Collection(
            connection, "evaluation-results")
        self.users: Collection[t.User, t.UserFields] = Collection(connection, "users")
        self.exports = Exports(connection)
        self.erasure = Erasure(connection)

    @classmethod
    def connect(cls, base_url: str, *, token: str, **options: Any) -> PlatformClient:
        """Over HTTPS with a bearer token; `options` go to UrllibTransport (ssl_context, timeout)."""
        return cls(UrllibTransport(base_url, **options), headers={"Authorization": f"Bearer {token}"})

    def collections(self) -> list[Collection[Any, Any]]:
        return [self.prompts, self.model_calls, self.datasets, self.dataset_items, self.evaluation_results,
                self.users]

    def ready(self) -> bool:
        """/readyz: the service can reach its database (False on a 503)."""
        try:
            self._c.call("readyz")
        except ApiError as exc:
            if exc.status == 503:
                return False
            raise
        return True

    def alive(self) -> bool:
        """/healthz: the process answers."""
        return self._c.call("healthz").status == 200
