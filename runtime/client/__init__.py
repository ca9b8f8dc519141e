"""A small typed client of the data service (stdlib only): records CRUD, pages and cursor iteration, filters,
batches, PATCH/DELETE with If-Match, export requests and downloads, erasure, errors as typed exceptions.

    from runtime.client import PlatformClient, PreconditionFailedError

    client = PlatformClient.connect("https://data.example.com", token=TOKEN)
    client.organisation.put({"name": "Acme"})
    [first, second] = client.model_calls.create_many([{"model": "m", "input": "a"}, {"model": "m", "input": "b"}])
    read = client.model_calls.get(first)
    try:
        client.model_calls.update(first, {"output": "done"}, if_match=read.etag)
    except PreconditionFailedError:
        ...  # someone changed it since: read it again
"""

from runtime.client.client import Collection, Page, PlatformClient, Versioned
from runtime.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    ConnectionFailedError,
    ForbiddenError,
    NotFoundError,
    OrganisationKeyUnavailableError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ServerError,
    UnavailableError,
    ValidationError,
)
from runtime.client.transport import Answer, Transport, UrllibTransport, fetch

__all__ = [
    "Answer", "ApiError", "AuthenticationError", "BadRequestError", "ClientError", "Collection", "ConflictError",
    "ConnectionFailedError", "ForbiddenError", "NotFoundError", "OrganisationKeyUnavailableError", "Page",
    "PayloadTooLargeError", "PlatformClient", "PreconditionFailedError", "ServerError", "Transport",
    "UnavailableError", "UrllibTransport", "ValidationError", "Versioned", "fetch",
]
