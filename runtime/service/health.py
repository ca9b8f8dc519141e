"""`/healthz` (the process is up) and `/readyz` (the database answers over TLS, its schema is as new as
the code needs, and the self-check passes).

The self-check (runtime.db.self_check: the role cannot read past row-level security; in support mode
it holds no privilege on a SENSITIVE table) and the schema version check (the database's applied
migration version, `support.schema_version()`, is not lower than the newest migration this code ships:
a task whose schema is behind is not ready) run at start-up and then at most every `recheck_seconds`
on readiness probes; between runs a probe is one `SELECT 1` on a pooled connection, whose TLS is
checked too. The reason for "not ready" goes to the log, never to the caller.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.migrate import SchemaVersion, applied_version, load_migrations, newest_version
from runtime.db.self_check import ServiceMode, inspect
from runtime.errors import PlatformError, PoolExhaustedError

log = logging.getLogger("platform.service")
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    ready: bool
    reason: str = ""


class Readiness:
    def __init__(
        self,
        connections: ConnectionSource,
        mode: ServiceMode,
        *,
        recheck_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        required_version: int | None = None,
    ) -> None:
        """`required_version`: the schema version the code needs (default: its newest migration)."""
        self._connections = connections
        self._mode = mode
        self._required = newest_version(load_migrations()) if required_version is None else required_version
        self._recheck = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None

    def check(self) -> ReadinessResult:
        try:
            with translated(), self._connections.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
                if not conn.pgconn.ssl_in_use:
                    return ReadinessResult(False, "the database connection is not TLS")
                with self._lock:
                    due = self._checked_at is None or self._clock() - self._checked_at >= self._recheck
                if due:
                    schema = SchemaVersion(applied=applied_version(conn), required=self._required)
                    if schema.behind:
                        return ReadinessResult(False, schema.describe())
                    report = inspect(conn, self._mode)
                    if not report.ok:
                        return ReadinessResult(False, "self-check failed: " + "; ".join(report.findings))
                    with self._lock:
                        self._checked_at = self._clock()
                else:
                    conn.execute("SELECT 1")
        except PoolExhaustedError:
            return ReadinessResult(False, "no database connection free in time")
        except PlatformError as exc:
            return ReadinessResult(False, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a broken connection, a closed pool: not ready, whatever it is
            return ReadinessResult(False, type(exc).__name__)
        return ReadinessResult(True)


class Status(BaseModel):
    status: str


_HEALTHY = Status(status="ok").model_dump_json().encode()


def router(readiness: Readiness) -> APIRouter:
    api = APIRouter(tags=["health"])

    @api.get("/healthz", name="healthz", response_model=Status, summary="the process is up")
    async def healthz() -> Response:
        return Response(_HEALTHY, media_type="application/json")  # the same bytes every time: no serialising

    @api.get(
        "/readyz",
        name="readyz",
        response_model=Status,
        summary="the database answers over TLS, its schema is current and the self-check passes",
        responses={503: {"model": Status, "description": "not ready (the reason is in the service's log)"}},
    )
    def readyz() -> Status | JSONResponse:
        result = readiness.check()
        if result.ready:
            return Status(status="ready")
        log.warning("not ready: %s", result.reason)
        return JSONResponse({"status": "not ready"}, status_code=503)

    return api
