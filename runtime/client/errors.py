"""The client's errors: every answer that is not a success is an `ApiError` carrying the service's problem
document (RFC 9457: `type`, `title`, `status`, `detail`, `request_id`, and for a 422 the field `errors`), as
the subclass of its status; a request that got no answer at all is a `ConnectionFailedError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypedDict

# The problem type of a request refused because the organisation's own key cannot be used (P6, P10).
ORGANISATION_KEY_UNAVAILABLE: Final = "/problems/organisation-key-unavailable"


class FieldProblem(TypedDict):
    location: str  # e.g. body.items.3.input or query.cursor
    message: str
    type: str


class ClientError(Exception):
    """The root of the client's errors."""


class ConnectionFailedError(ClientError):
    """No answer: the service could not be reached, or the connection broke."""


class ApiError(ClientError):
    """The service answered with a problem document."""

    def __init__(self, status: int, problem: Mapping[str, Any], retry_after: str | None = None) -> None:
        self.status = status
        self.type = str(problem.get("type") or "about:blank")
        self.title = str(problem.get("title") or "")
        self.detail = str(problem.get("detail") or "")
        self.request_id: str | None = problem.get("request_id")
        self.errors: list[FieldProblem] = list(problem.get("errors") or [])
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {self.title}: {self.detail}"
                         + (f" (request {self.request_id})" if self.request_id else ""))


class BadRequestError(ApiError):
    """400: the body is not JSON."""


class AuthenticationError(ApiError):
    """401: no credential, or one the service does not accept."""


class ForbiddenError(ApiError):
    """403: authenticated, but not allowed (e.g. not the organisation's admin)."""


class NotFoundError(ApiError):
    """404: no such record in your organisation (another organisation's looks the same)."""


class ConflictError(ApiError):
    """409: the request conflicts with the state (a reference that does not exist, an export not complete)."""


class PreconditionFailedError(ApiError):
    """412: If-Match named another version: read the record again, then retry with its ETag."""


class PayloadTooLargeError(ApiError):
    """413: the body is larger than the service accepts: send less per request."""


class ValidationError(ApiError):
    """422: the request is not valid; `errors` names each field and rule."""


class ServerError(ApiError):
    """5xx: the service failed; report the request id."""


class UnavailableError(ServerError):
    """503: busy, or a dependency is unreachable: retry after `retry_after` seconds."""


class OrganisationKeyUnavailableError(UnavailableError):
    """503 of type /problems/organisation-key-unavailable: the organisation's key is disabled or being destroyed."""


_BY_STATUS: Final[Mapping[int, type[ApiError]]] = {
    400: BadRequestError, 401: AuthenticationError, 403: ForbiddenError, 404: NotFoundError, 409: ConflictError,
    412: PreconditionFailedError, 413: PayloadTooLargeError, 422: ValidationError, 503: UnavailableError,
}


def api_error(status: int, problem: Mapping[str, Any], retry_after: str | None = None) -> ApiError:
    """The typed error of an answer that is not a success."""
    if problem.get("type") == ORGANISATION_KEY_UNAVAILABLE:
        return OrganisationKeyUnavailableError(status, problem, retry_after)
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, problem, retry_after)
