"""A scratch database for the breach drill (P12): created next to the real one on the same cluster, given the
platform's roles and schema, and dropped afterwards. The drill never touches the real database's data.

Everything is done as the drill role (platform_drill: CREATEDB and nothing else; never the master user, whose
secret only the deploy-time database setup reads). It creates the database, so it owns it: as that owner it
closes the database to PUBLIC, grants the jobs role CONNECT, and migrates it, so it owns the scratch schema's
objects too (the migrations grant the platform roles what they grant them in the real database; row-level
security is forced, so the owner is bound by it like platform_owner is in the real one). The drill then works
in it as itself (where the real procedures' owners would) and as the jobs role (the breach procedure), and drops
it as its owner. The drill role is a member of no platform role and has no privilege in the real database but
CONNECT (needed to run CREATE DATABASE from it).
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
from runtime.db.schema import DRILL_ROLE, JOBS_ROLE
from runtime.errors import ConfigurationError

Connection = psycopg.Connection[Any]
PREFIX: Final = DRILL_ROLE  # scratch databases are named after the role that creates and owns them
_NAME: Final = re.compile(rf"{PREFIX}_[0-9]{{8}}t[0-9]{{6}}_[0-9a-f]{{6}}")

DrillConnect = Callable[[str], Connection]  # database name -> a connection to it as the drill role
# The roles the drill works in a scratch database as, besides the drill role that owns it.
WORKING_ROLES: Final = (JOBS_ROLE,)
RoleSettings = Callable[[str, str], DatabaseSettings]  # (database, role) -> settings
RolePasswords = Callable[[str], PasswordSource | None]  # role -> its password source


@dataclass
class ScratchDatabase:
    name: str
    settings_for: RoleSettings = field(repr=False)
    passwords_for: RolePasswords = field(repr=False)
    pools: list[ConnectionPool] = field(default_factory=list, repr=False)

    @property
    def owner_role(self) -> str:
        """The role that owns the scratch database and its objects (it migrated them)."""
        return DRILL_ROLE

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
    def __init__(self, *, creator: DrillConnect, maintenance_db: str, settings_for: RoleSettings,
                 passwords_for: RolePasswords, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`creator(dbname)` connects as the drill role; `maintenance_db` is where it runs CREATE and DROP
        DATABASE (the platform database: the drill role may connect to it and read nothing there)."""
        self._creator = creator
        self._maintenance_db = maintenance_db
        self._settings_for = settings_for
        self._passwords_for = passwords_for
        self._clock = clock

    def create(self) -> ScratchDatabase:
        name = f"{PREFIX}_{self._clock():%Y%m%dt%H%M%S}_{uuid.uuid4().hex[:6]}"
        with translated(), self._creator(self._maintenance_db) as creator:
            creator.autocommit = True
            creator.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        scratch = ScratchDatabase(name, self._settings_for, self._passwords_for)
        try:
            with self._creator(name) as owner:
                _close_to_all_but_the_drill(owner, name)
                migrate(owner)
        except BaseException:
            self.drop(scratch)
            raise
        return scratch

    def drop(self, scratch: ScratchDatabase) -> None:
        if not _NAME.fullmatch(scratch.name):  # never drop anything but a drill's own database
            raise ConfigurationError(f"refusing to drop {scratch.name!r}: not a drill scratch database")
        scratch.close()
        with translated(), self._creator(self._maintenance_db) as creator:
            creator.autocommit = True
            # FORCE ends the drill's own leftover sessions; the drill role may not end other roles' (it is no
            # superuser and holds no pg_signal_backend), so close every pool first (scratch.close above).
            creator.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch.name)))

    def leftovers(self) -> list[str]:
        """Scratch databases an interrupted drill left behind (drop them with `breach drill --clean`)."""
        with translated(), self._creator(self._maintenance_db) as creator:
            rows = creator.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                                 (f"{PREFIX}\\_%",)).fetchall()
        return [str(r[0]) for r in rows if _NAME.fullmatch(str(r[0]))]


def _close_to_all_but_the_drill(owner: Connection, dbname: str) -> None:
    """As the scratch database's owner: nobody connects but the drill and the roles it works as; nobody creates
    in `public` (what bootstrap-roles does for the real database, within what a database owner may do)."""
    database = sql.Identifier(dbname)
    with translated(), owner.transaction():
        owner.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        for role in WORKING_ROLES:
            owner.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, sql.Identifier(role)))
        owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
