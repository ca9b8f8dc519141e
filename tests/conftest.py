"""Session-wide fixtures: ONE throwaway PostgreSQL cluster (TLS only) for every test that asks for it.

The cluster starts lazily, the first time a test uses `platform_db`; the infrastructure tests never
pay for it. Layout: a migrated, never-connected template database, the shared `platform` database
made from it, and `fresh_db` for tests that damage their database (tampering, broken schemas).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql

from runtime.db import DatabaseSettings, StaticPassword, bootstrap_roles, connect, migrate
from runtime.db.roles import ALL_ROLES
from runtime.db.schema import OWNER_ROLE
from tests.support.postgres import HOST, PostgresCluster

TEMPLATE_DB = "platform_template"


@dataclass
class PlatformDatabase:
    """A migrated database on the test cluster, with a password per platform role."""

    cluster: PostgresCluster
    dbname: str
    passwords: dict[str, str] = field(repr=False)

    def settings(self, role: str, **overrides: Any) -> DatabaseSettings:
        values: dict[str, Any] = {
            "host": "localhost",
            "hostaddr": HOST,
            "port": self.cluster.port,
            "dbname": self.dbname,
            "user": role,
            "ca_bundle": self.cluster.ca_file,
        }
        values.update(overrides)
        return DatabaseSettings(**values)

    def password(self, role: str) -> StaticPassword:
        return StaticPassword(self.superuser_password if role == "postgres" else self.passwords[role])

    @property
    def superuser_password(self) -> str:
        return self.cluster.superuser_password

    def connect(self, role: str, **options: Any) -> psycopg.Connection[Any]:
        """A connection as `role` through the runtime's own verified-TLS path."""
        return connect(self.settings(role), self.password(role), **options)

    def admin(self, **options: Any) -> psycopg.Connection[Any]:
        return self.connect("postgres", **options)


def _create_database(cluster: PostgresCluster, name: str, *, template: str | None = None) -> None:
    with psycopg.connect(cluster.superuser_conninfo(), autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        conn.execute(query)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _roles_and_template(pg_cluster: PostgresCluster) -> dict[str, str]:
    passwords = {role: secrets.token_urlsafe(18) for role in ALL_ROLES}
    _create_database(pg_cluster, TEMPLATE_DB)
    template = PlatformDatabase(pg_cluster, TEMPLATE_DB, passwords)
    with template.admin() as admin:
        bootstrap_roles(admin, dbname=TEMPLATE_DB, passwords=passwords)
    with template.connect(OWNER_ROLE) as owner:
        migrate(owner)
    return passwords


def _database_from_template(cluster: PostgresCluster, passwords: dict[str, str], name: str) -> PlatformDatabase:
    _create_database(cluster, name, template=TEMPLATE_DB)
    db = PlatformDatabase(cluster, name, passwords)
    with db.admin() as admin:  # database-level grants are not copied from the template
        bootstrap_roles(admin, dbname=name, passwords=passwords)
    return db


@pytest.fixture(scope="session")
def platform_db(pg_cluster: PostgresCluster, _roles_and_template: dict[str, str]) -> PlatformDatabase:
    """The shared database: tests keep to their own (random) owners, so they never see each other's rows."""
    return _database_from_template(pg_cluster, _roles_and_template, "platform")


@pytest.fixture
def fresh_db(pg_cluster: PostgresCluster, _roles_and_template: dict[str, str]) -> PlatformDatabase:
    """A database of its own for a test that tampers with it."""
    return _database_from_template(pg_cluster, _roles_and_template, f"t_{uuid.uuid4().hex[:12]}")
