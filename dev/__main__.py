"""`python -m dev` (what `make dev` runs), `python -m dev token NAME [--admin|--support]` and `python -m dev env`.

    python -m dev [--port 8080] [--support-port 8081]   start PostgreSQL (TLS, 127.0.0.1), the data service,
                                                        the support service and the audit sequencer; Ctrl-C stops all
    python -m dev token alice                            print a bearer token for a development user (alice, bob)
    python -m dev token alice --admin                    the same user as its organisation's admin (org-admin)
    python -m dev token sam --support                    print a support engineer's staff token (any name)
    python -m dev env                                    print `export ...` lines to run the jobs against the local
                                                         database: eval "$(python -m dev env)"; python -m runtime ...

The services start the way tasks do, `ServiceConfig.from_environment` and all, with local stand-ins: a key
file per organisation (LocalOrganisationKeyring, in STATE/organisation-keys, outside the database) instead of
each organisation's KMS key, so an erasure visibly destroys the organisation's key (crypto-shredding, P10),
two development token issuers (key files and their JWKS) instead of the customers' IdP and the staff IdP
(P4: each service trusts its own issuer only), and libpq's password file instead of IAM tokens. The support
service runs as `python -m runtime serve` in a
child process, exactly as its task does. Everything lives in a private folder under /tmp, made anew by
every start and removed at the end. A second start while one runs refuses, and leaves the running one's
folder alone: it takes the lock file (STATE.lock, beside the folder) and checks both ports BEFORE touching
anything.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

# DEV_STATE_DIR: another folder (tests/dev/test_readme_walkthrough.py runs the README beside a developer's make dev).
STATE = Path(os.environ.get("DEV_STATE_DIR") or Path(tempfile.gettempdir()) / "platform-dev")
LOCK = STATE.with_name(STATE.name + ".lock")  # held (flock) by the running start, for as long as it runs
ENV_FILE = "env.json"  # in STATE: what `python -m dev env` prints
USERS = ("alice", "bob")
STAFF_PREFIX = "staff-"  # the staff issuer's files in STATE, beside the customers' issuer's
STAFF_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_TTL_SECONDS = 7 * 86_400
START_TIMEOUT_SECONDS = 30.0


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer; use {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"out of range; use {low} to {high}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("start", help="start the database and both services (the default)")
    start.add_argument("--port", type=_bounded(1, 65535), default=8080, help="the data service's (default 8080)")
    start.add_argument("--support-port", type=_bounded(1, 65535), default=None,
                       help="the support service's (default: --port + 1)")
    token = commands.add_parser("token", help="print a bearer token for a development user or support engineer")
    token.add_argument("user", help=f"{' or '.join(USERS)}; with --support any lower-case name, e.g. sam")
    role = token.add_mutually_exclusive_group()
    role.add_argument("--support", action="store_true", help="a staff token for the support service")
    role.add_argument("--admin", action="store_true",
                      help="the user as its organisation's admin (may request exports, downloads and erasure)")
    token.add_argument("--ttl", type=_bounded(60, MAX_TTL_SECONDS), default=12 * 3600,
                       help=f"seconds, 60 to {MAX_TTL_SECONDS} (default 12 h)")
    commands.add_parser("env", help="print export lines for running `python -m runtime` jobs against the local run")
    args = parser.parse_args(argv)
    if args.command == "token":
        return print_token(args.user, args.ttl, support=args.support, admin=args.admin)
    if args.command == "env":
        return print_env()
    port = getattr(args, "port", 8080)
    support_port = getattr(args, "support_port", None) or (port + 1 if port < 65535 else port - 1)
    if support_port == port:
        parser.error("--support-port must differ from --port")
    return run(port, support_port)


def print_env() -> int:
    """`export NAME=value` lines: the job's settings against the local database and keyring."""
    path = STATE / ENV_FILE
    if not path.is_file():
        print("error: no local run is going on: start one with `make dev`", file=sys.stderr)
        return 1
    for name, value in sorted(json.loads(path.read_text()).items()):
        print(f"export {name}={shlex.quote(value)}")
    return 0


def print_token(user: str, ttl: int, *, support: bool = False, admin: bool = False) -> int:
    from tests.support.tokens import TokenIssuer

    if not (STATE / "users.json").is_file():
        print("error: no local run is going on: start one with `make dev`", file=sys.stderr)
        return 1
    if support:
        if not STAFF_NAME.fullmatch(user):
            print("error: a support engineer's name is a lower-case word (letters, digits, -), e.g. sam",
                  file=sys.stderr)
            return 2
        print(TokenIssuer.load(STATE, prefix=STAFF_PREFIX).staff_token(user, ttl=ttl))
        return 0
    organisations = json.loads((STATE / "users.json").read_text())
    if user not in organisations:
        print(f"error: the development users are {' and '.join(USERS)} (support engineers: --support)",
              file=sys.stderr)
        return 2
    from runtime import settings

    claims = {settings.DEFAULT_AUTH_ADMIN_CLAIM: [settings.DEFAULT_AUTH_ADMIN_ROLE]} if admin else {}
    print(TokenIssuer.load(STATE).token(user, organisations[user], ttl=ttl, **claims))
    return 0


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def _single_instance(ports: Sequence[int]) -> Iterator[None]:
    """Hold LOCK for the run; refuse (PlatformError) when another run holds it or a port is taken. Nothing
    is touched before both checks pass: the running one's folder stays as it is."""
    from runtime.errors import PlatformError

    descriptor = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PlatformError(f"another local run is going on (it holds {LOCK}); stop it first (Ctrl-C in its "
                                "terminal)") from None
        busy = [port for port in ports if _port_busy(port)]
        if busy:
            raise PlatformError(f"port {', '.join(map(str, busy))} is in use; stop what uses it or start with "
                                "--port (and --support-port)")
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        os.close(descriptor)  # releases the lock


def run(port: int, support_port: int) -> int:
    # Imported here so that `python -m dev token` stays quick.
    from runtime import settings
    from runtime.db import OwnerScope
    from runtime.db.organisation_keys import record_registered
    from runtime.db.schema import APP_ROLE, JOBS_ROLE, SEQUENCER_ROLE, SUPPORT_ROLE
    from runtime.envelope import LocalOrganisationKeyring
    from runtime.errors import PlatformError
    from runtime.lifecycle.receipt_signing import LocalReceiptSigner
    from runtime.service import server
    from runtime.service.config import ServiceConfig
    from runtime.service.logs import configure_logging
    from runtime.service.wiring import build_context, service_routers
    from tests.support.platform_db import migrated_database
    from tests.support.postgres import HOST, PostgresCluster
    from tests.support.tokens import DEV_STAFF_CLAIM, DEV_STAFF_ROLE, TokenIssuer

    try:
        guard = _single_instance((port, support_port))
        guard.__enter__()
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(mode=0o700)
    try:
        with PostgresCluster.start() as cluster:
            db = migrated_database(cluster, "platform")
            pgpass = STATE / "pgpass"
            pgpass.write_text("".join(f"{HOST}:{cluster.port}:platform:{role}:{db.passwords[role]}\n"
                                      for role in (APP_ROLE, SUPPORT_ROLE, JOBS_ROLE, SEQUENCER_ROLE)))
            pgpass.chmod(0o600)
            os.environ["PGPASSFILE"] = str(pgpass)
            organisation_keys = STATE / "organisation-keys"  # one key file per organisation, outside the database
            organisation_keys.mkdir(mode=0o700)
            keyring = {settings.KEYRING_MODE: "per-organisation",
                       settings.LOCAL_ORGANISATION_KEYS_DIR: str(organisation_keys)}
            receipt_key = STATE / "receipt-signing-key.pem"  # signs erasure receipts (a KMS key when deployed)
            receipt_key.write_bytes(LocalReceiptSigner.generate().private_pem())
            receipt_key.chmod(0o600)
            keyring[settings.LOCAL_RECEIPT_SIGNING_KEY_FILE] = str(receipt_key)
            issuer, staff = TokenIssuer.generate(), TokenIssuer.generate_staff()
            issuer.save(STATE)
            staff.save(STATE, prefix=STAFF_PREFIX)
            common = {
                settings.ENVIRONMENT: "local",
                settings.SERVICE_HOST: HOST,
                settings.DATABASE_HOST: HOST,
                settings.DATABASE_PORT: str(cluster.port),
                settings.DATABASE_NAME: "platform",
                settings.DATABASE_IAM_AUTH: "false",
                settings.DATABASE_CA_BUNDLE: str(cluster.ca_file),
                settings.AUDIT_CHAIN_KEY: secrets.token_urlsafe(48),
                settings.AUTH_MODE: settings.AUTH_MODE_BEARER_JWT,
            }
            environ = {
                **common,
                settings.SERVICE_MODE: "owner",
                settings.SERVICE_PORT: str(port),
                settings.DATABASE_USER: APP_ROLE,
                **keyring,
                settings.JWT_ISSUER: issuer.issuer,
                settings.JWT_AUDIENCE: issuer.audience,
                settings.JWT_JWKS_FILE: str(STATE / "jwks.json"),
            }
            support_environ = {  # the same variables, the staff IdP's values (as the support task gets them)
                **common,
                settings.SERVICE_MODE: "support",
                settings.SERVICE_PORT: str(support_port),
                settings.DATABASE_USER: SUPPORT_ROLE,
                settings.JWT_ISSUER: staff.issuer,
                settings.JWT_AUDIENCE: staff.audience,
                settings.JWT_JWKS_FILE: str(STATE / f"{STAFF_PREFIX}jwks.json"),
                settings.AUTH_STAFF_CLAIM: DEV_STAFF_CLAIM,
                settings.AUTH_STAFF_ROLE: DEV_STAFF_ROLE,
            }
            config = ServiceConfig.from_environment(environ)
            jobs = {  # the lifecycle job's settings against this run (`python -m dev env`)
                **common, settings.DATABASE_USER: JOBS_ROLE, **keyring,
                "PGPASSFILE": str(pgpass), settings.LONGEST_BACKUP_RETENTION_DAYS: "35",
            }
            (STATE / ENV_FILE).write_text(json.dumps(jobs))
            ServiceConfig.from_environment(support_environ)  # its settings' problems, here and now
            signing_key = STATE / "audit-signing.pem"  # the audit checkpoints' key: local runs sign with a file
            signing_key.write_bytes(LocalReceiptSigner.generate().private_pem())
            signing_key.chmod(0o600)
            sequencer_environ = {**common, settings.SERVICE_MODE: "sequencer", settings.DATABASE_USER: SEQUENCER_ROLE,
                                 settings.LOCAL_AUDIT_SIGNING_KEY_FILE: str(signing_key)}
            with _support_service(support_environ, f"http://{HOST}:{support_port}"), _sequencer(sequencer_environ):
                context = build_context(config)
                organisations = {user: str(uuid.uuid4()) for user in USERS}
                assert context.owner is not None
                for user, organisation in organisations.items():  # registered as PUT /v1/organisation would
                    LocalOrganisationKeyring(organisation_keys, environment="local").provision(organisation)
                    principal = OwnerScope(uuid.UUID(organisation), uuid.uuid4(), f"dev-setup-{user}")
                    with context.owner.database.owner_transaction(principal) as tx:
                        context.owner.records.insert(tx, "organisations",
                                                     [{"name": f"{user}'s organisation".encode()}])
                        record_registered(tx)
                (STATE / "users.json").write_text(json.dumps(organisations))
                _banner(port, support_port, cluster.port, organisations)
                configure_logging()
                server.run(config, context=context, routers=service_routers(config))
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(STATE, ignore_errors=True)
        guard.__exit__(None, None, None)  # after the folder is gone: a next start finds nothing of this one
    return 0


@contextlib.contextmanager
def _support_service(environ: Mapping[str, str], url: str) -> Iterator[None]:
    """`python -m runtime serve` in support mode, in a child process; ready on entry, stopped on exit."""
    from runtime.errors import PlatformError

    inherited = {name: value for name, value in os.environ.items() if not name.startswith("PLATFORM_")}
    child = subprocess.Popen([sys.executable, "-m", "runtime", "serve"], env={**inherited, **environ})
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _ready(url):
            if child.poll() is not None or time.monotonic() > deadline:
                raise PlatformError("the support service did not start; its messages are above")
            time.sleep(0.2)
        yield
    finally:
        _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=25)
    if child.poll() is None:
        child.kill()
        child.wait()


@contextlib.contextmanager
def _sequencer(environ: Mapping[str, str]) -> Iterator[None]:
    """`python -m runtime audit sequence` in a child process (the audit sequencer service); stopped on exit."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("PLATFORM_")}
    child = subprocess.Popen([sys.executable, "-m", "runtime", "audit", "sequence"], env={**inherited, **environ})
    try:
        yield
    finally:
        _stop(child)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:  # noqa: S310 (our own http URL)
            return bool(answer.status == 200)
    except OSError:
        return False


def _banner(port: int, support_port: int, db_port: int, organisations: dict[str, str]) -> None:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    lines = [
        f"Local run: the data service on http://127.0.0.1:{port} (owner API, a local key file per organisation in "
        f"{STATE / 'organisation-keys'}: an erasure deletes the organisation's),",
        f"the support service on http://127.0.0.1:{support_port} (support API: staff tokens only, P4),",
        f"PostgreSQL with TLS on 127.0.0.1:{db_port} (throwaway: removed when you stop).",
        "Development users, each in an organisation of its own: "
        + ", ".join(f"{user} ({org})" for user, org in organisations.items()),
        "Tokens (valid 12 h), in another terminal:",
        *(f"  {user.upper()}=$({python} -m dev token {user})" for user in organisations),
        f"  ADMIN=$({python} -m dev token alice --admin)    # alice as her organisation's admin",
        f"  STAFF=$({python} -m dev token sam --support)",
        f"  curl -s http://127.0.0.1:{port}/v1/organisation -H \"Authorization: Bearer $ALICE\"",
        f"  curl -s http://127.0.0.1:{support_port}/support/v1/audit-chain-head -H \"Authorization: Bearer $STAFF\"",
        f"Jobs against this run: eval \"$({python} -m dev env)\"; {python} -m runtime export --help",
        f"  a new organisation's PUT /v1/organisation answers 503 until its key exists: {python} -m runtime org "
        "provision-keys --pending (what the deployed schedule runs)",
        f"The APIs' descriptions: http://127.0.0.1:{port}/openapi.json, http://127.0.0.1:{support_port}/openapi.json"
        "    Stop: Ctrl-C",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
