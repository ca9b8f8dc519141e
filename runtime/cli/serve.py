"""`python -m runtime serve [--check]`: run the data service (owner API, or the support API in support mode).

Configuration comes from the container environment only (names in runtime/settings.py). A missing or
invalid setting, an unreachable database or a failed self-check stops start-up with one message.
`--check` does all of that, then exits 0 without serving: a pre-flight for a new task definition.
"""

from __future__ import annotations

import argparse
import os

from runtime.service.config import ServiceConfig
from runtime.service.logs import configure_logging


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the data service (owner or support mode: PLATFORM_SERVICE_MODE)")
    serve.add_argument(
        "--check", action="store_true",
        help="read the settings, connect over TLS and run the self-check, then exit without serving",
    )
    serve.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = ServiceConfig.from_environment(os.environ)
    # Imported here: the service's dependencies (FastAPI, uvicorn) load only for this command.
    from runtime.service import server, wiring

    if args.check:
        context = wiring.build_context(config)
        context.close()
        print(f"ready to serve: {config.service_name} API, {config.mode.value} mode, port {config.port}")
        return 0
    configure_logging()
    server.run(config, routers=wiring.service_routers(config))
    return 0
