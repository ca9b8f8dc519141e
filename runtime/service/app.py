"""The ASGI application: `create_app(context, routers=[...])`.

Owner mode routes the owner API (runtime.service.owner_api); support mode routes the support API
(runtime.service.support_api) and nothing else. Both have /healthz, /readyz and /openapi.json.
Extra routers (e.g. the lifecycle routes: export requests and erasure) are mounted as given; they
reach the caller and the data layer through runtime.service.context's dependencies. Extra routers
are owner-mode routes: support mode refuses them, so nothing but NOT_SENSITIVE views is ever served
there (P4).
"""

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

from anyio import to_thread
from fastapi import APIRouter, FastAPI

from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError
from runtime.service import health, owner_api, problems, support_api
from runtime.service.auth import ALB_HEADER
from runtime.service.context import STATE_KEY, ServiceContext
from runtime.service.middleware import RequestContextMiddleware
from runtime.settings import DEFAULT_SERVICE_MAX_BODY_BYTES
from runtime.telemetry import TELEMETRY_SCHEMAS, Emitter, LoggingSink
from runtime.version import __version__

VERSION: Final = __version__  # the OpenAPI description's version: the package's (runtime/version.py)
_PUBLIC_PATHS: Final = ("/healthz", "/readyz")
telemetry_log = logging.getLogger("platform.telemetry")


def create_app(
    context: ServiceContext,
    *,
    routers: Sequence[APIRouter] = (),
    max_body_bytes: int = DEFAULT_SERVICE_MAX_BODY_BYTES,
    emitter: Emitter | None = None,
) -> FastAPI:
    owner_mode = context.mode is ServiceMode.OWNER
    if routers and not owner_mode:
        raise ConfigurationError("extra routers are owner-mode routes; support mode serves NOT_SENSITIVE views only")
    app = FastAPI(
        lifespan=_lifespan(context),
        title="Platform data service" if owner_mode else "Platform support service",
        version=VERSION,
        description=(
            "The owner API: each organisation's own records, encrypted at rest, audited (P3, P6, P14)."
            if owner_mode
            else "The support API: NOT_SENSITIVE audit and telemetry views only (P4)."
        ),
        docs_url=None,  # no HTML pages that load scripts from elsewhere; /openapi.json describes the API
        redoc_url=None,
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
    app.add_middleware(
        RequestContextMiddleware,
        service=context.service_name,
        emitter=emitter,
        max_body_bytes=max_body_bytes,
    )
    _document_security(app, context)
    return app


def _lifespan(context: ServiceContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As many request threads as database connections: more would only queue for the pool, and every
        # waiting thread costs wake-ups and GIL switches on the way (it is the process's CPU that bounds it).
        to_thread.current_default_thread_limiter().total_tokens = context.worker_threads
        yield

    return lifespan


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
