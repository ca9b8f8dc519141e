"""A migrated platform database on a throwaway cluster, with a password per platform role.

Used by the test fixtures (tests/conftest.py) and the database benchmarks (bench/).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from runtime.db import DatabaseSettings, StaticPassword, bootstrap_roles, connect, migrate
from runtime.db.roles import ALL_ROLES
from runtime.db.schema import OWNER_ROLE
from tests.support.postgres import HOST, PostgresCluster


@dataclass
class PlatformDatabase:
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
        return StaticPassword(self.cluster.superuser_password if role == "postgres" else self.passwords[role])

    def connect(self, role: str, **options: Any) -> psycopg.Connection[Any]:
        """A connection as `role` through the runtime's own verified-TLS path."""
        return connect(self.settings(role), self.password(role), **options)

    def admin(self, **options: Any) -> psycopg.Connection[Any]:
        """The cluster's superuser, on this database."""
        return self.connect("postgres", **options)


def create_database(cluster: PostgresCluster, name: str, *, template: str | None = None) -> None:
    with psycopg.connect(cluster.superuser_conninfo(), autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        conn.execute(query)


def migrated_database(cluster: PostgresCluster, name: str, passwords: dict[str, str] | None = None) -> PlatformDatabase:
    """Create `name`, bootstrap the roles (with `passwords`, or new random ones) and migrate it."""
    passwords = passwords or {role: secrets.token_urlsafe(18) for role in ALL_ROLES}
    create_database(cluster, name)
    db = PlatformDatabase(cluster, name, passwords)
    with db.admin() as admin:
        bootstrap_roles(admin, dbname=name, passwords=passwords)
    with db.connect(OWNER_ROLE) as owner:
        migrate(owner)
    return db


def copy_of(template: PlatformDatabase, name: str) -> PlatformDatabase:
    """A new database cloned from `template` (which must have no open connections)."""
    create_database(template.cluster, name, template=template.dbname)
    db = PlatformDatabase(template.cluster, name, template.passwords)
    with db.admin() as admin:  # database-level grants are not copied with the template
        bootstrap_roles(admin, dbname=name, passwords=template.passwords)
    return db
