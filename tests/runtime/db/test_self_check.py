"""The startup self-check refuses to serve from a connection that could read past RLS (P3, P4)."""

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from runtime import settings
from runtime.cli import main
from runtime.db import ServiceMode, StaticPassword, connect, inspect, require_safe
from runtime.db.schema import APP_ROLE, JOBS_ROLE, OWNER_ROLE, SUPPORT_ROLE
from runtime.errors import SelfCheckError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("role", "mode"), [(APP_ROLE, ServiceMode.OWNER), (SUPPORT_ROLE, ServiceMode.SUPPORT),
                                            (JOBS_ROLE, ServiceMode.JOB)])
def test_self_check_service_role_passes(platform_db: PlatformDatabase, role: str, mode: ServiceMode) -> None:
    with platform_db.connect(role) as conn:
        assert require_safe(conn, mode).role == role


def test_self_check_superuser_refused(platform_db: PlatformDatabase) -> None:
    with platform_db.admin() as conn, pytest.raises(SelfCheckError, match="is a superuser"):
        require_safe(conn)


def test_self_check_table_owner_refused(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(OWNER_ROLE) as conn, pytest.raises(SelfCheckError, match="owns the SENSITIVE table"):
        require_safe(conn)


@pytest.fixture
def extra_role(platform_db: PlatformDatabase) -> Iterator[tuple[str, str, str]]:
    """A throwaway login role; the test gives it the attribute or membership under test."""
    name, password = f"tmp_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(platform_db.dbname),
                                                                            sql.Identifier(name)))
    yield name, password, platform_db.dbname
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _connect_as(platform_db: PlatformDatabase, role: tuple[str, str, str]) -> psycopg.Connection[Any]:
    return connect(platform_db.settings(role[0]), StaticPassword(role[1]))


def test_self_check_bypassrls_role_refused(platform_db: PlatformDatabase, extra_role: tuple[str, str, str]) -> None:
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(extra_role[0])))
    with _connect_as(platform_db, extra_role) as conn, pytest.raises(SelfCheckError, match="has BYPASSRLS"):
        require_safe(conn)


def test_self_check_member_of_table_owner_refused(platform_db: PlatformDatabase,
                                                  extra_role: tuple[str, str, str]) -> None:
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT platform_owner TO {}").format(sql.Identifier(extra_role[0])))
    with _connect_as(platform_db, extra_role) as conn, pytest.raises(SelfCheckError, match="member of platform_owner"):
        require_safe(conn)


def test_self_check_table_without_forced_rls_refused(fresh_db: PlatformDatabase) -> None:
    with fresh_db.connect(OWNER_ROLE, autocommit=True) as owner:
        owner.execute("ALTER TABLE platform.model_calls NO FORCE ROW LEVEL SECURITY")
    with fresh_db.connect(APP_ROLE) as conn, pytest.raises(SelfCheckError, match=r"platform\.model_calls lacks forced"):
        require_safe(conn)


def test_self_check_table_without_rls_refused(fresh_db: PlatformDatabase) -> None:
    with fresh_db.connect(OWNER_ROLE, autocommit=True) as owner:
        owner.execute("ALTER TABLE platform.users DISABLE ROW LEVEL SECURITY")
    with fresh_db.connect(APP_ROLE) as conn:
        report = inspect(conn)
    assert any("platform.users lacks row-level security" in f for f in report.findings)


def test_self_check_support_role_with_sensitive_grant_refused(fresh_db: PlatformDatabase) -> None:
    with fresh_db.connect(OWNER_ROLE, autocommit=True) as owner:
        owner.execute("GRANT SELECT ON platform.prompts TO platform_support")
    with fresh_db.connect(SUPPORT_ROLE) as conn, pytest.raises(SelfCheckError, match=r"platform\.prompts"):
        require_safe(conn, ServiceMode.SUPPORT)


def test_self_check_unmigrated_database_refused(platform_db: PlatformDatabase) -> None:
    empty = f"e_{uuid.uuid4().hex[:10]}"
    with platform_db.admin(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(empty)))
    with connect(platform_db.settings("postgres", dbname=empty), platform_db.password("postgres")) as conn:
        report = inspect(conn)
    assert any("does not exist; run the migrations" in f for f in report.findings)


def _use_role(monkeypatch: pytest.MonkeyPatch, db: PlatformDatabase, role: str) -> None:
    s = db.settings(role)
    for name, value in {
        settings.DATABASE_HOST: s.host, settings.DATABASE_PORT: str(s.port), settings.DATABASE_NAME: s.dbname,
        settings.DATABASE_USER: role, settings.DATABASE_CA_BUNDLE: str(s.ca_bundle), settings.SERVICE_MODE: "owner",
        "PGPASSWORD": db.passwords[role],  # libpq's own fallback: no IAM, no secret id configured
    }.items():
        monkeypatch.setenv(name, value)


def test_self_check_cli_exit_codes(platform_db: PlatformDatabase, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    _use_role(monkeypatch, platform_db, APP_ROLE)
    assert main(["db", "self-check"]) == 0
    assert "self-check passed for role platform_app" in capsys.readouterr().out
    _use_role(monkeypatch, platform_db, OWNER_ROLE)
    assert main(["db", "self-check"]) == 1
    assert "owns the SENSITIVE table" in capsys.readouterr().err


def test_migrate_cli_reports_the_version(platform_db: PlatformDatabase, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _use_role(monkeypatch, platform_db, OWNER_ROLE)
    assert main(["db", "migrate"]) == 0
    assert "none pending; schema check passed" in capsys.readouterr().out
