"""Run the service with uvicorn: one process, HTTP or (HIPAA mode) HTTPS it terminates itself (P5).

    run(config)            # blocks until SIGTERM / SIGINT; closes the pools on the way out

The keep-alive timeout is longer than the load balancer's idle timeout (60 s), so the load balancer,
not the task, closes idle connections (no 502s on reuse).
"""

import gc
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from typing import Any, Final

import uvicorn
from fastapi import APIRouter, FastAPI

from runtime.service.app import Observability, create_app
from runtime.service.config import ServiceConfig
from runtime.service.context import ServiceContext
from runtime.service.tls import certificate_files, harden
from runtime.service.wiring import build_context

KEEP_ALIVE_SECONDS: Final = 65
# How long a thread may keep the GIL while another waits for it: Python's default (5 ms). The 0.5 ms this was
# while writers queued on the audit chain's row lock cost each write ~0.3-0.5 ms of CPU in forced GIL hand-offs
# once that lock was gone (bench.api A/B; the sequencer chains the events now).
SWITCH_INTERVAL_SECONDS: Final = 0.005
GRACEFUL_SHUTDOWN_SECONDS: Final = 20
YOUNG_COLLECTION_OBJECTS: Final = 10_000
log = logging.getLogger("platform.service")


def uvicorn_config(app: FastAPI, config: ServiceConfig, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_config": None,  # runtime.service.logs configures logging
        "access_log": False,  # request.completed telemetry instead: no paths, no queries
        "server_header": False,
        "proxy_headers": False,  # the service trusts signed claims only, never forwarded-for headers
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "lifespan": "on",  # sets the request thread limit (runtime.service.app)
        # Named, not "auto": without them uvicorn falls back to the pure-Python loop and parser (several times
        # the CPU per request) without a word; a missing package fails the start instead.
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",  # the API has no WebSocket routes
    }
    if config.tls is not None:
        cert_file, key_file = certificate_files(config.tls)
        options.update(ssl_certfile=str(cert_file), ssl_keyfile=str(key_file), ssl_version=ssl.PROTOCOL_TLS_SERVER)
    options.update(overrides)
    server_config = uvicorn.Config(app, **options)
    server_config.load()
    if server_config.ssl is not None:
        harden(server_config.ssl)
    return server_config


def run(config: ServiceConfig, *, context: ServiceContext | None = None, routers: Sequence[APIRouter] = ()) -> None:
    context = context or build_context(config)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        app = create_app(context, routers=routers, max_body_bytes=config.max_body_bytes,
                         observability=Observability.from_environment(os.environ))
        server = uvicorn.Server(uvicorn_config(app, config))
        # What is loaded by now (the app, its models and schemas, the libraries) lives as long as the process:
        # frozen, the collector stops walking it. A batch request allocates ~10 objects per record, and each full
        # collection they triggered walked the whole heap: ~8 us of CPU per record of a batch ingest.
        gc.collect()
        gc.freeze()
        # A young collection every YOUNG_COLLECTION_OBJECTS allocations, not Python's 700: a batch's objects live
        # for its whole request, so each young collection walked them again (~3 us per record at 700).
        gc.set_threshold(YOUNG_COLLECTION_OBJECTS, *gc.get_threshold()[1:])
        scheme = "https" if config.tls is not None else "http"
        log.info("serving the %s API (%s mode) over %s on port %d", context.service_name, config.mode.value, scheme,
                 config.port)
        server.run()
    finally:
        context.close()
