"""One ASGI middleware around the application: request id, body size limit, headers, telemetry (P7).

- Every request gets a fresh request id (a random UUID the scrubber passes): `request.state.request_id`,
  the `x-request-id` answer header, the audit ledger's `request_id`. Client-sent ids never reach the ledger.
- Bodies larger than `max_body_bytes` are refused with 413: at once when Content-Length says so,
  else as soon as the streamed body passes the limit.
- Answers get `Cache-Control: no-store` (they carry owners' data) and `X-Content-Type-Options: nosniff`.
- An unexpected exception becomes a 500 problem; the log gets its type and place, never its text.
- When the answer is done, ONE `request.completed` telemetry event goes out through the allowlisted
  emitter: service, operation (the route's name, never the path), status, duration, request id.
  Nothing from the request or the answer body, headers or query string is ever logged.
- With `metrics` (runtime.service.metrics), the request is counted and timed by method, route TEMPLATE
  (`scope["route"].path`, never the path) and status, each label through the telemetry allowlist.
"""

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from starlette.exceptions import HTTPException

from runtime.errors import TelemetryError
from runtime.service.metrics import ServiceMetrics
from runtime.service.problems import MEDIA_TYPE, innermost_frame, problem_document
from runtime.telemetry import Emitter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER: Final = b"x-request-id"
UNMATCHED: Final = "unmatched"
_EXTRA_HEADERS: Final = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
log = logging.getLogger("platform.service")


_VARIANT: Final = "89ab"  # the RFC 4122 variant's hex digit, by the random digit's two low bits


def new_request_id() -> str:
    """A random (version 4) UUID's text: unguessable, a valid audit request id, and one the scrubber always
    passes (it reads UUIDs as ids, never as card or phone numbers: runtime.telemetry.scrubber). Formatted from
    os.urandom directly: str(uuid.uuid4()) costs three times as much, in uuid.UUID's checks and formatting."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send less per request"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        emitter: Emitter,
        max_body_bytes: int,
        metrics: ServiceMetrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._service = service
        self._emitter = emitter
        self._max = max_body_bytes
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self._clock()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started_answer = False
        rid_header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_answer
            if message["type"] == "http.response.start":
                status, started_answer = int(message["status"]), True
                message["headers"] = [*message.get("headers", ()), rid_header, *_EXTRA_HEADERS]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self._max:
                status = 413
                await _send_problem(send, 413, too_large_detail(self._max), request_id, close=True)
                return
            await self.app(scope, self._limited(receive), send_with_headers)
        except Exception as exc:
            # Never the message or a traceback: an exception's text can quote data (P7). Not re-raised, so
            # the server does not log it either.
            status = 500
            log.error("request %s: unexpected %s at %s", request_id, type(exc).__name__, innermost_frame(exc))
            if not started_answer:
                await _send_problem(send, 500, "the request failed; report the request id", request_id, close=False)
        finally:
            self._emit(scope, status, request_id, (self._clock() - started) * 1000.0)

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self._max

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large_detail(limit))
            return message

        return limited_receive

    def _emit(self, scope: Scope, status: int, request_id: str, duration_ms: float) -> None:
        route = scope.get("route")
        operation = getattr(route, "name", None) or UNMATCHED
        if self._metrics is not None:
            template = getattr(route, "path", None)
            self._metrics.observe(str(scope.get("method", "")), template if isinstance(template, str) else None,
                                  status, duration_ms / 1000.0)
        try:
            self._emitter.emit(
                "request.completed",
                {
                    "service": self._service,
                    "operation": operation,
                    "status": status,
                    "duration_ms": round(duration_ms, 3),
                    "request_id": request_id,
                },
            )
        except TelemetryError as exc:  # a bad event is dropped, never the answer
            log.warning("telemetry event refused: %s", type(exc).__name__)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Send, status: int, detail: str, request_id: str, *, close: bool) -> None:
    body = json.dumps(problem_document(status, detail, request_id)).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER, request_id.encode()),
        *_EXTRA_HEADERS,
    ]
    if close:  # the unread body is not worth reading: end the connection after this answer
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
