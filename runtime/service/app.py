"""The ASGI application: `create_app(context, routers=[...])`.

Owner mode routes the owner API (runtime.service.owner_api); support mode routes the support API
(runtime.service.support_api) and nothing else. Both have /healthz, /readyz and /openapi.json.
Extra routers (e.g. the lifecycle routes: export requests and erasure) are mounted as given; they
reach the caller and the data layer through runtime.service.context's dependencies. Extra routers
are owner-mode routes: support mode refuses them, so nothing but NOT_SENSITIVE views is ever served
there (P4).

Observability (`Observability`, from PLATFORM_METRICS_PORT, PLATFORM_METRICS_HOST, PLATFORM_TRACES and
PLATFORM_API_DOCS; all off by default): Prometheus metrics on a listener of their own
(runtime.service.metrics: never on the API's port, which the load balancers route), OpenTelemetry traces
over OTLP (runtime.service.tracing), and the interactive description at /docs. Metric labels and span
attributes are the method, the route template and the status only (P7).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from anyio import to_thread
from fastapi import APIRouter, FastAPI

from runtime import settings
from runtime.db.self_check import ServiceMode
from runtime.db.session import AsyncDatabase
from runtime.environment import flag, optional_integer, text
from runtime.errors import ConfigurationError
from runtime.service import health, owner_api, problems, support_api
from runtime.service.auth import ALB_HEADER
from runtime.service.context import STATE_KEY, LiveOwnerData, ServiceContext, live_by_loop
from runtime.service.metrics import Pool, ServiceMetrics, route_templates
from runtime.service.middleware import RequestContextMiddleware
from runtime.settings import DEFAULT_SERVICE_MAX_BODY_BYTES
from runtime.telemetry import TELEMETRY_SCHEMAS, Emitter, LoggingSink
from runtime.version import __version__

VERSION: Final = __version__  # the OpenAPI description's version: the package's (runtime/version.py)
_PUBLIC_PATHS: Final = ("/healthz", "/readyz")
telemetry_log = logging.getLogger("platform.telemetry")
log = logging.getLogger("platform.service")
METRICS_STATE_KEY: Final = "metrics"  # app.state.metrics: the ServiceMetrics, when metrics are on
DOCS_PATH: Final = "/docs"


@dataclass(frozen=True)
class Observability:
    """What a service exposes about itself besides its API (all off by default)."""

    metrics_port: int | None = None  # None: no metrics listener; 0: any free port (tests)
    metrics_host: str = settings.DEFAULT_METRICS_HOST
    traces: bool = False
    docs: bool = False
    span_exporter: Any = None  # tests: an SDK exporter (in-memory), spans exported at once

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Observability":
        port = optional_integer(environ, settings.METRICS_PORT)
        if port is not None and not 1 <= port <= 65535:
            raise ConfigurationError(f"{settings.METRICS_PORT} must be a port, 1 to 65535; got {port}")
        return cls(
            metrics_port=port,
            metrics_host=text(environ, settings.METRICS_HOST) or settings.DEFAULT_METRICS_HOST,
            traces=flag(environ, settings.TRACES),
            docs=flag(environ, settings.API_DOCS),
        )


def create_app(
    context: ServiceContext,
    *,
    routers: Sequence[APIRouter] = (),
    max_body_bytes: int = DEFAULT_SERVICE_MAX_BODY_BYTES,
    emitter: Emitter | None = None,
    observability: Observability | None = None,
) -> FastAPI:
    owner_mode = context.mode is ServiceMode.OWNER
    seen = observability or Observability()
    if routers and not owner_mode:
        raise ConfigurationError("extra routers are owner-mode routes; support mode serves NOT_SENSITIVE views only")
    metrics: ServiceMetrics | None = None
    app = FastAPI(
        lifespan=_lifespan(context, lambda: metrics, seen),
        title="Platform data service" if owner_mode else "Platform support service",
        version=VERSION,
        description=(
            "The owner API: each organisation's own records, encrypted at rest, audited (P3, P6, P14)."
            if owner_mode
            else "The support API: NOT_SENSITIVE audit and telemetry views only (P4)."
        ),
        # Off by default: the page loads its scripts from elsewhere; /openapi.json describes the API.
        docs_url=DOCS_PATH if seen.docs else None,
        redoc_url=None,
        # FastAPI's own telemetry follows any global provider and records paths (ids), bodies of invalid
        # requests and exception texts (P7); the service's spans are runtime.service.tracing's only.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    setattr(app.state, STATE_KEY, context)
    problems.install(app, www_authenticate=context.www_authenticate)
    app.include_router(health.router(context.readiness))
    if owner_mode:
        for router in (*owner_api.routers(), *routers):
            app.include_router(router)
    else:
        if context.support is None:
            raise ConfigurationError("support mode needs the support role's connections")
        app.include_router(support_api.router(context.support))
    emitter = emitter or Emitter(TELEMETRY_SCHEMAS, LoggingSink(telemetry_log))
    routes = route_templates(app)
    if seen.metrics_port is not None:
        metrics = ServiceMetrics(
            service=context.service_name, routes=routes,
            pools=[Pool(name, stats) for name, stats in context.pool_stats],
            envelope=context.owner.cipher.stats if context.owner is not None else None,
        )
        setattr(app.state, METRICS_STATE_KEY, metrics)
    app.add_middleware(
        RequestContextMiddleware,
        service=context.service_name,
        emitter=emitter,
        max_body_bytes=max_body_bytes,
        metrics=metrics,
    )
    if seen.traces or seen.span_exporter is not None:
        from runtime.service.tracing import install_tracing  # the SDK is loaded only when traces are on

        install_tracing(app, service=context.service_name, routes=routes,
                        exporter=seen.span_exporter,
                        batch=seen.span_exporter is None)
    _document_security(app, context)
    return app


def _lifespan(context: ServiceContext, metrics: Callable[[], ServiceMetrics | None],
              seen: Observability) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As many request threads as database connections: more would only queue for the pool, and every
        # waiting thread costs wake-ups and GIL switches on the way (it is the process's CPU that bounds it).
        to_thread.current_default_thread_limiter().total_tokens = context.worker_threads
        pool = await _open_owner_pool(app, context)
        exposed = metrics()
        if exposed is not None and seen.metrics_port is not None:
            host, port = exposed.serve(port=seen.metrics_port, host=seen.metrics_host)
            log.info("metrics on http://%s:%d/metrics (not routed by the load balancers)", host, port)
        try:
            yield
        finally:
            if exposed is not None:
                exposed.close()
            if pool is not None:
                live_by_loop(app).pop(asyncio.get_running_loop(), None)
                await pool.close()

    return lifespan


async def _open_owner_pool(app: FastAPI, context: ServiceContext) -> AsyncDatabase | None:
    """Owner mode: open the owner API's async pool on this app's event loop (its connections belong to it)."""
    owner = context.owner
    if owner is None:
        return None
    database = owner.live()
    await database.open()
    live_by_loop(app)[asyncio.get_running_loop()] = LiveOwnerData.opened(database, owner)
    return database


def _document_security(app: FastAPI, context: ServiceContext) -> None:
    """Declare how callers authenticate in the OpenAPI description (every operation but the probes)."""
    bearer = context.www_authenticate is not None
    scheme: dict[str, Any] = (
        {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        if bearer
        else {"type": "apiKey", "in": "header", "name": ALB_HEADER,
              "description": "set by the load balancer after it signed the user in (OIDC)"}
    )
    name = "bearer" if bearer else "albOidc"
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {}).setdefault("securitySchemes", {})[name] = scheme
        for path, operations in document.get("paths", {}).items():
            if path in _PUBLIC_PATHS:
                continue
            for operation in operations.values():
                operation["security"] = [{name: []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
