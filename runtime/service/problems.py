"""Every error answer is an RFC 9457 problem document (`application/problem+json`).

    {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "...", "request_id": "..."}

Details say what to do and never echo what was sent: validation errors name the field and the rule,
not the value (P7). Server errors say nothing about their cause; the log gets the request id and the
error's type (and, for the runtime's own errors, their message, which by design holds no values).
Unexpected exceptions are caught by runtime.service.middleware, which logs their type and place only.
Database driver errors never arrive here as such: runtime.db translates them (runtime/db/errors.py) into the
runtime's typed errors (an unreachable database, or a pool with no free connection, is a DatabaseUnavailableError:
503), so this module handles PlatformError and imports no driver.
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.envelope.keyrings.organisation import OrganisationKeyUnavailableError
from runtime.errors import (
    ConflictError,
    DatabaseUnavailableError,
    DecryptionError,
    IntegrityViolationError,
    InvalidOwnerError,
    InvalidRecordError,
    InvalidValueError,
    KeyringError,
    KmsThrottledError,
    PlatformError,
    RetryableError,
)
from runtime.service.auth import PUBLIC_MESSAGE, AuthenticationError, Refusal

MEDIA_TYPE: Final = "application/problem+json"
log = logging.getLogger("platform.service")


class FieldProblem(BaseModel):
    location: str = Field(description="where in the request, e.g. body.input or query.limit")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[FieldProblem] | None = None


# The problem type of a request refused because its organisation's own key cannot be used (P6, P10).
ORGANISATION_KEY_UNAVAILABLE: Final = "/problems/organisation-key-unavailable"
_ORGANISATION_KEY_DETAIL: Final = (
    "your organisation's encryption key is not available (not provisioned yet, disabled, revoked or being "
    "destroyed): nothing was read or written; retry later, or ask your administrator to check the key"
)


def problem_document(status: int, detail: str, request_id: str | None = None, *,
                     problem_type: str = "about:blank") -> dict[str, Any]:
    return {
        "type": problem_type,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }


def problem_response(
    status: int,
    detail: str,
    *,
    request_id: str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    problem_type: str = "about:blank",
) -> JSONResponse:
    body = problem_document(status, detail, request_id, problem_type=problem_type)
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems an operation can answer."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
        for status in statuses
    }


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


# --- mapping ------------------------------------------------------------------------------------------

# The runtime's own errors that a request can cause, and what the caller is told.
_CLIENT_ERRORS: Final[tuple[tuple[type[PlatformError], int, str], ...]] = (
    (ConflictError, 409, "a record with this key exists already"),
    (
        IntegrityViolationError,
        409,
        "a record this one refers to does not exist: check the ids you referenced, and that your organisation "
        "is registered (PUT /v1/organisation)",
    ),
    (InvalidRecordError, 422, "the record is not valid for this collection"),
    (InvalidOwnerError, 422, "an id is not a well-formed UUID"),
    (InvalidValueError, 422, "a value has the wrong type"),
)
_UNAVAILABLE: Final = "the service is busy or its database is unreachable; retry shortly"


def _validation_errors(exc: RequestValidationError) -> list[FieldProblem]:
    problems = []
    for error in exc.errors()[:50]:  # the rule and the place, never `input` (the value sent)
        location = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(FieldProblem(location=location, message=str(error.get("msg", "")), type=str(error.get("type"))))
    return problems


def install(app: FastAPI, *, www_authenticate: str | None) -> None:
    """Register the handlers that turn every exception into a problem document."""

    async def on_authentication(request: Request, exc: Exception) -> JSONResponse:
        # Only the fixed code: nothing from the credential, nor any text, reaches the log (P7).
        reason = getattr(exc, "reason", None)
        code = reason.value if isinstance(reason, Refusal) else Refusal.MALFORMED.value
        log.info("request %s: authentication refused: %s", request_id_of(request), code)
        headers = {"WWW-Authenticate": www_authenticate} if www_authenticate else None
        return problem_response(401, PUBLIC_MESSAGE, request_id=request_id_of(request), headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            422,
            "the request is not valid: see errors (location, rule); fix the named fields",
            request_id=request_id_of(request),
            errors=_validation_errors(exc),
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 400 else _http_detail(exc)
        return problem_response(exc.status_code, detail, request_id=request_id_of(request), headers=exc.headers)

    async def on_platform(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PlatformError)
        rid = request_id_of(request)
        for kind, status, detail in _CLIENT_ERRORS:
            if isinstance(exc, kind):
                return problem_response(status, detail, request_id=rid)
        if isinstance(exc, OrganisationKeyUnavailableError):  # before KeyringError: one typed answer, a 503
            log.warning("request %s: organisation key unavailable: %s", rid, exc.code)
            return problem_response(503, _ORGANISATION_KEY_DETAIL, request_id=rid, headers={"Retry-After": "60"},
                                    problem_type=ORGANISATION_KEY_UNAVAILABLE)
        if isinstance(exc, DatabaseUnavailableError | RetryableError | KmsThrottledError):
            log.warning("request %s: unavailable: %s: %s", rid, type(exc).__name__, exc)
            return problem_response(503, _UNAVAILABLE, request_id=rid, headers={"Retry-After": "1"})
        if isinstance(exc, DecryptionError | KeyringError):
            log.error("request %s: data could not be decrypted: %s", rid, type(exc).__name__)
            return problem_response(500, "a stored record could not be read; report the request id", request_id=rid)
        log.error("request %s: failed: %s: %s", rid, type(exc).__name__, exc)
        return problem_response(500, "the request failed; report the request id", request_id=rid)

    app.add_exception_handler(AuthenticationError, on_authentication)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PlatformError, on_platform)


def _http_detail(exc: StarletteHTTPException) -> str:
    if exc.status_code == 400:
        return "the request body could not be parsed: send a JSON document (Content-Type: application/json)"
    return HTTPStatus(exc.status_code).phrase


def innermost_frame(exc: BaseException) -> str:
    """Where an exception was raised (file:line in function): loggable, unlike its message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno} in {code.co_name}"
