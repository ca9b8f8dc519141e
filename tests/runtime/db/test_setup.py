"""`db setup`: roles then schema in one run, idempotent, once however many run at once, loud on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws

from runtime import settings
from runtime.cli.db import setup_from_environment
from runtime.db import StaticPassword, connect
from runtime.db.migrate import Migration, load_migrations, newest_version
from runtime.db.roles import bootstrap_roles
from runtime.db.schema import OWNER_ROLE
from runtime.db.setup import SETUP_LOCK, SetupLockTimeoutError, SetupResult, run_setup
from runtime.errors import AuthenticationFailedError, ConfigurationError, DatabaseError, SchemaError
from runtime.wiring.passwords import read_admin_secret
from tests.support.platform_db import PlatformDatabase, create_database

pytestmark = pytest.mark.postgres

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[3]
NEWEST = newest_version(load_migrations())


@pytest.fixture
def empty_db(template_db: PlatformDatabase) -> PlatformDatabase:
    """A database with nothing in it (the roles exist cluster-wide, as after a first deploy's bootstrap)."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    create_database(template_db.cluster, name)
    return PlatformDatabase(template_db.cluster, name, template_db.passwords)


def _setup(db: PlatformDatabase, **options: Any) -> SetupResult:
    return run_setup(
        admin=lambda: db.admin(),
        owner=lambda: db.connect(OWNER_ROLE),
        dbname=db.dbname,
        **options,
    )


def _applied_versions(db: PlatformDatabase) -> list[int]:
    with db.admin() as conn:
        return [int(v) for (v,) in conn.execute("SELECT version FROM platform.schema_migrations ORDER BY 1")]


def test_setup_empty_database_gets_roles_and_every_migration(empty_db: PlatformDatabase) -> None:
    lines: list[str] = []
    result = _setup(empty_db, report=lines.append)
    assert result.version == NEWEST
    assert result.migration is not None and len(result.migration.applied) == len(load_migrations())
    assert _applied_versions(empty_db) == sorted(m.version for m in load_migrations())
    assert any("roles ready" in line for line in lines) and any("schema check passed" in line for line in lines)


def test_setup_second_run_applies_nothing(empty_db: PlatformDatabase) -> None:
    _setup(empty_db)
    again = _setup(empty_db)
    assert again.migration is not None and again.migration.applied == ()
    assert again.version == NEWEST


def test_setup_two_runs_at_once_migrate_exactly_once(empty_db: PlatformDatabase) -> None:
    """Both start together; the lock lets one in, the other waits and then finds nothing pending."""
    barrier = threading.Barrier(2)
    results: list[SetupResult] = []
    errors: list[BaseException] = []

    def admin() -> Any:
        conn = empty_db.admin()
        barrier.wait(timeout=30)  # both hold an admin connection before either asks for the lock
        return conn

    def run() -> None:
        try:
            results.append(run_setup(admin=admin, owner=lambda: empty_db.connect(OWNER_ROLE), dbname=empty_db.dbname))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    applied = sorted(len(r.migration.applied) for r in results if r.migration is not None)
    assert applied == [0, len(load_migrations())]
    assert _applied_versions(empty_db) == sorted(m.version for m in load_migrations())


def test_setup_lock_held_elsewhere_times_out_with_advice(empty_db: PlatformDatabase) -> None:
    with empty_db.admin(autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        with pytest.raises(SetupLockTimeoutError, match="stuck setup task"):
            _setup(empty_db, lock_timeout_seconds=0.2)
    assert _setup(empty_db).version == NEWEST  # released with the other session


def test_setup_database_ahead_of_the_code_left_as_it_is(empty_db: PlatformDatabase) -> None:
    """A rollback re-runs the previous image: its migrations are older than the database's, nothing changes."""
    newer = [*load_migrations(), Migration(NEWEST + 1, f"{NEWEST + 1:04d}_newer.sql", "SELECT 1;")]
    _setup(empty_db, migrations=newer)
    result = _setup(empty_db)
    assert result.migration is None and result.version == NEWEST + 1
    assert _applied_versions(empty_db)[-1] == NEWEST + 1


def test_setup_failing_migration_applies_nothing(empty_db: PlatformDatabase) -> None:
    undeclared = Migration(NEWEST + 1, f"{NEWEST + 1:04d}_broken.sql", "CREATE TABLE platform.x (id uuid);")
    broken = [*load_migrations(), undeclared]
    with pytest.raises(SchemaError, match="unclassified table"):
        _setup(empty_db, migrations=broken)
    with empty_db.admin() as conn:
        assert conn.execute("SELECT to_regclass('platform.schema_migrations')").fetchone() == (None,)


def test_setup_with_iam_on_a_cluster_without_rds_iam_refused(empty_db: PlatformDatabase) -> None:
    with pytest.raises(SchemaError, match="no rds_iam role"):
        _setup(empty_db, iam_auth=True)


@pytest.fixture
def rds_iam_role(empty_db: PlatformDatabase) -> Iterator[None]:
    """Aurora's rds_iam, for one test (roles are cluster-wide: dropped again, which revokes its memberships)."""
    with empty_db.admin(autocommit=True) as conn:
        conn.execute("CREATE ROLE rds_iam NOLOGIN")
    try:
        yield
    finally:
        with empty_db.admin(autocommit=True) as conn:
            conn.execute("DROP ROLE rds_iam")


def test_bootstrap_roles_grants_the_migration_owner_rds_iam(empty_db: PlatformDatabase, rds_iam_role: None) -> None:
    with empty_db.admin() as admin:
        bootstrap_roles(admin, dbname=empty_db.dbname, require_rds_iam=True)
        members = {
            name
            for (name,) in admin.execute(
                "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                "JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = 'rds_iam'"
            )
        }
    assert OWNER_ROLE in members


# --- the command: settings from the environment, the admin from the master secret ----------------------


@pytest.fixture
def secrets_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def _environment(db: PlatformDatabase, secret_id: str) -> dict[str, str]:
    return {
        settings.DATABASE_HOST: "127.0.0.1",  # the test server's certificate names the address too
        settings.DATABASE_PORT: str(db.cluster.port),
        settings.DATABASE_NAME: db.dbname,
        settings.DATABASE_CA_BUNDLE: str(db.cluster.ca_file),
        settings.DATABASE_IAM_AUTH: "false",  # the test cluster has no rds_iam: the owner's password stands in
        settings.DATABASE_ADMIN_SECRET_ID: secret_id,
        settings.DATABASE_MIGRATION_USER: OWNER_ROLE,
    }


def _master_secret(client: Any, db: PlatformDatabase, **extra: str) -> str:
    # As RDS writes a managed master secret: username and password (an attached one adds host, port, ...).
    value = {"username": "postgres", "password": db.cluster.superuser_password, **extra}
    return str(client.create_secret(Name=f"master-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(value))["ARN"])


def _clients(client: Any) -> Callable[[str], Any]:
    def factory(service: str) -> Any:
        assert service == "secretsmanager", f"db setup asked for a {service} client"
        return client

    return factory


def test_setup_command_from_environment_prints_each_step_and_exits_0(
    empty_db: PlatformDatabase, secrets_client: Any
) -> None:
    secret = _master_secret(secrets_client, empty_db, host="ignored.example", port="1")
    lines: list[str] = []
    code = setup_from_environment(
        _environment(empty_db, secret),
        clients=_clients(secrets_client),
        owner_passwords=empty_db.password(OWNER_ROLE),
        out=lines.append,
    )
    assert code == 0
    text = "\n".join(lines)
    for step in ("admin credentials", "setup lock held", "roles ready", "migration owner", "done in"):
        assert step in text
    assert _applied_versions(empty_db)[-1] == NEWEST
    assert empty_db.cluster.superuser_password not in text


def test_setup_command_wrong_owner_password_exits_1_naming_the_step(
    empty_db: PlatformDatabase, secrets_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = setup_from_environment(
        _environment(empty_db, _master_secret(secrets_client, empty_db)),
        clients=_clients(secrets_client),
        owner_passwords=StaticPassword("not-the-password"),
        out=lambda line: None,
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "database setup FAILED while connecting as the migration owner" in err and "refused the login" in err


def test_setup_command_unreadable_secret_exits_1_with_the_grant_to_add(
    empty_db: PlatformDatabase, secrets_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = setup_from_environment(
        _environment(empty_db, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing"),
        clients=_clients(secrets_client),
        out=lambda line: None,
    )
    assert code == 1
    assert "secretsmanager:GetSecretValue" in capsys.readouterr().err


def test_setup_command_other_migration_user_refused(empty_db: PlatformDatabase, secrets_client: Any) -> None:
    environ = {**_environment(empty_db, "x"), settings.DATABASE_MIGRATION_USER: "platform_app"}
    assert setup_from_environment(environ, clients=_clients(secrets_client), out=lambda line: None) == 1


@pytest.mark.parametrize("value", ["not json", json.dumps({"password": "p"}), json.dumps(["u", "p"])])
def test_read_admin_secret_without_username_and_password_refused(secrets_client: Any, value: str) -> None:
    arn = secrets_client.create_secret(Name=f"bad-{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"]
    with pytest.raises(ConfigurationError, match="username"):
        read_admin_secret(secrets_client, arn)


def test_read_admin_secret_missing_secret_names_the_grant(secrets_client: Any) -> None:
    with pytest.raises(DatabaseError, match="kms:Decrypt"):
        read_admin_secret(secrets_client, "missing")


def test_setup_module_entry_point_missing_settings_exits_1_without_traceback() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "db", "setup"], cwd=ROOT, env=environ, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "database setup FAILED while reading the settings" in result.stderr
    assert settings.DATABASE_HOST in result.stderr and "Traceback" not in result.stderr


def test_setup_owner_login_refused_surfaces_as_authentication_error(empty_db: PlatformDatabase) -> None:
    with pytest.raises(AuthenticationFailedError):
        run_setup(
            admin=lambda: empty_db.admin(),
            owner=lambda: connect(empty_db.settings(OWNER_ROLE), StaticPassword("wrong")),
            dbname=empty_db.dbname,
        )


def test_setup_command_owner_iam_token_client_comes_from_the_clients_passed(
    empty_db: PlatformDatabase, secrets_client: Any
) -> None:
    """The migration owner's IAM token source takes its RDS client from `clients`, not a default factory."""
    asked: list[str] = []

    def clients(service: str) -> Any:
        asked.append(service)
        return secrets_client if service == "secretsmanager" else boto3.client(service, region_name=REGION)

    environ = {**_environment(empty_db, _master_secret(secrets_client, empty_db)), settings.DATABASE_IAM_AUTH: "true"}
    # The test cluster has no rds_iam, so the run stops at the roles; the token source was built by then.
    assert setup_from_environment(environ, clients=clients, out=lambda line: None) == 1
    assert asked == ["secretsmanager", "rds"]


def test_master_secret_variable_read_by_db_setup_only() -> None:
    runtime = Path(__file__).resolve().parents[3] / "runtime"
    naming = {str(f.relative_to(runtime)) for f in runtime.rglob("*.py")
              if "DATABASE_ADMIN_SECRET_ID" in f.read_text(encoding="utf-8")}
    # settings names it, db setup reads it, the secret's reader names it in its error message.
    assert naming == {"settings.py", "cli/db.py", "wiring/passwords.py"}
