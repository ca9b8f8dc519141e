"""`python -m dev` (what `make dev` runs) and `python -m dev token USER`.

    python -m dev [--port 8080]     start PostgreSQL (TLS, 127.0.0.1) and the data service; Ctrl-C stops both
    python -m dev token alice       print a bearer token for a development user (alice, bob)

The service starts the way a task does, `ServiceConfig.from_environment` and all, with three local
stand-ins: the local keyring (a master key file) instead of KMS, a development token issuer (a key
file and its JWKS) instead of the IdP, and libpq's password file instead of IAM tokens. Everything
lives in a private folder under /tmp, made anew by every start and removed at the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

STATE = Path(tempfile.gettempdir()) / "platform-dev"
USERS = ("alice", "bob")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("start", help="start the database and the service (the default)")
    start.add_argument("--port", type=int, default=8080)
    token = commands.add_parser("token", help="print a bearer token for a development user")
    token.add_argument("user", choices=USERS)
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (default 12 h)")
    args = parser.parse_args(argv)
    if args.command == "token":
        return print_token(args.user, args.ttl)
    return run(getattr(args, "port", 8080))


def print_token(user: str, ttl: int) -> int:
    from tests.support.tokens import TokenIssuer

    if not (STATE / "users.json").is_file():
        print("error: no local run is going on: start one with `make dev`", file=sys.stderr)
        return 1
    organisations = json.loads((STATE / "users.json").read_text())
    print(TokenIssuer.load(STATE).token(user, organisations[user], ttl=ttl))
    return 0


def run(port: int) -> int:
    # Imported here so that `python -m dev token` stays quick.
    from runtime import settings
    from runtime.db import Principal
    from runtime.db.schema import APP_ROLE
    from runtime.errors import PlatformError
    from runtime.service import server
    from runtime.service.config import ServiceConfig
    from runtime.service.logs import configure_logging
    from runtime.service.wiring import build_context
    from tests.support.platform_db import migrated_database
    from tests.support.postgres import HOST, PostgresCluster
    from tests.support.tokens import TokenIssuer

    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(mode=0o700)
    try:
        with PostgresCluster.start() as cluster:
            db = migrated_database(cluster, "platform")
            pgpass = STATE / "pgpass"
            pgpass.write_text(f"{HOST}:{cluster.port}:platform:{APP_ROLE}:{db.passwords[APP_ROLE]}\n")
            pgpass.chmod(0o600)
            os.environ["PGPASSFILE"] = str(pgpass)
            master_key = STATE / "master-key"
            master_key.write_text(base64.b64encode(os.urandom(32)).decode())
            master_key.chmod(0o600)
            issuer = TokenIssuer.generate()
            issuer.save(STATE)
            environ = {
                settings.ENVIRONMENT: "local",
                settings.SERVICE_MODE: "owner",
                settings.SERVICE_HOST: HOST,
                settings.SERVICE_PORT: str(port),
                settings.DATABASE_HOST: HOST,
                settings.DATABASE_PORT: str(cluster.port),
                settings.DATABASE_NAME: "platform",
                settings.DATABASE_USER: APP_ROLE,
                settings.DATABASE_IAM_AUTH: "false",
                settings.DATABASE_CA_BUNDLE: str(cluster.ca_file),
                settings.LOCAL_MASTER_KEY_FILE: str(master_key),
                settings.AUDIT_CHAIN_KEY: secrets.token_urlsafe(48),
                settings.AUTH_MODE: "bearer-jwt",
                settings.JWT_ISSUER: issuer.issuer,
                settings.JWT_AUDIENCE: issuer.audience,
                settings.JWT_JWKS_FILE: str(STATE / "jwks.json"),
            }
            config = ServiceConfig.from_environment(environ)
            context = build_context(config)
            organisations = {user: str(uuid.uuid4()) for user in USERS}
            assert context.owner is not None
            for user, organisation in organisations.items():  # registered as PUT /v1/organisation would
                principal = Principal(uuid.UUID(organisation), uuid.uuid4(), f"dev-setup-{user}")
                with context.owner.database.owner_transaction(principal) as tx:
                    context.owner.records.insert(tx, "organisations", [{"name": f"{user}'s organisation".encode()}])
            (STATE / "users.json").write_text(json.dumps(organisations))
            _banner(port, cluster.port, organisations)
            configure_logging()
            server.run(config, context=context)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(STATE, ignore_errors=True)
    return 0


def _banner(port: int, db_port: int, organisations: dict[str, str]) -> None:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    lines = [
        f"Local run: the data service on http://127.0.0.1:{port} (owner API, local keyring),",
        f"PostgreSQL with TLS on 127.0.0.1:{db_port} (throwaway: removed when you stop).",
        "Development users, each in an organisation of its own: "
        + ", ".join(f"{user} ({org})" for user, org in organisations.items()),
        "Tokens (valid 12 h), in another terminal:",
        *(f"  {user.upper()}=$({python} -m dev token {user})" for user in organisations),
        f"  curl -s http://127.0.0.1:{port}/v1/organisation -H \"Authorization: Bearer $ALICE\"",
        f"The API's description: http://127.0.0.1:{port}/openapi.json    Stop: Ctrl-C",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
