"""A scratch database for the breach drill (P12): created next to the real one on the same cluster, given the
platform's roles and schema, and dropped afterwards. The drill never touches the real database's data.

The admin connection (the RDS master user, from its Secrets Manager secret) creates and drops the database
and grants the roles CONNECT on it; the platform_owner role migrates it; the drill then works in it as the
roles the real procedures use.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from runtime.db.config import DatabaseSettings
from runtime.db.connect import connect, open_pool
from runtime.db.credentials import PasswordSource
from runtime.db.errors import translated
from runtime.db.migrate import migrate
from runtime.db.roles import bootstrap_roles
from runtime.db.schema import OWNER_ROLE
from runtime.errors import ConfigurationError

Connection = psycopg.Connection[Any]
PREFIX: Final = "platform_drill"
_NAME: Final = re.compile(rf"{PREFIX}_[0-9]{{8}}t[0-9]{{6}}_[0-9a-f]{{6}}")

AdminConnect = Callable[[str], Connection]  # database name -> an admin connection to it
RoleSettings = Callable[[str, str], DatabaseSettings]  # (database, role) -> settings
RolePasswords = Callable[[str], PasswordSource | None]  # role -> its password source


@dataclass
class ScratchDatabase:
    name: str
    settings_for: RoleSettings = field(repr=False)
    passwords_for: RolePasswords = field(repr=False)
    pools: list[ConnectionPool] = field(default_factory=list, repr=False)

    def pool(self, role: str, *, size: int = 3) -> ConnectionPool:
        settings = replace(self.settings_for(self.name, role), pool_min_size=1, pool_max_size=size,
                           application_name="platform-drill")
        pool = open_pool(settings, self.passwords_for(role), name=f"drill-{role}")
        self.pools.append(pool)
        return pool

    def connect(self, role: str) -> Connection:
        return connect(self.settings_for(self.name, role), self.passwords_for(role))

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.pools.clear()


class PostgresScratchDatabases:
    def __init__(self, *, admin: AdminConnect, maintenance_db: str, settings_for: RoleSettings,
                 passwords_for: RolePasswords, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._admin = admin
        self._maintenance_db = maintenance_db
        self._settings_for = settings_for
        self._passwords_for = passwords_for
        self._clock = clock

    def create(self) -> ScratchDatabase:
        name = f"{PREFIX}_{self._clock():%Y%m%dt%H%M%S}_{uuid.uuid4().hex[:6]}"
        with translated(), self._admin(self._maintenance_db) as admin:
            admin.autocommit = True
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        scratch = ScratchDatabase(name, self._settings_for, self._passwords_for)
        try:
            with self._admin(name) as admin:
                bootstrap_roles(admin, dbname=name)
            with scratch.connect(OWNER_ROLE) as owner:
                migrate(owner)
        except BaseException:
            self.drop(scratch)
            raise
        return scratch

    def drop(self, scratch: ScratchDatabase) -> None:
        if not _NAME.fullmatch(scratch.name):  # never drop anything but a drill's own database
            raise ConfigurationError(f"refusing to drop {scratch.name!r}: not a drill scratch database")
        scratch.close()
        with translated(), self._admin(self._maintenance_db) as admin:
            admin.autocommit = True
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch.name)))

    def leftovers(self) -> list[str]:
        """Scratch databases an interrupted drill left behind (drop them with `breach drill --clean`)."""
        with translated(), self._admin(self._maintenance_db) as admin:
            rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                                 (f"{PREFIX}\\_%",)).fetchall()
        return [str(r[0]) for r in rows if _NAME.fullmatch(str(r[0]))]
