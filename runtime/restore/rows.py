"""Row counts of the restored database, read through the runtime's own verified-TLS connection as the jobs role
(P5, P11). Row-level security hides owner data from an unbound role, so the counts of owner tables are the
planner's statistics (pg_class.reltuples, restored with the data), and the audit trail's length is exact (its
chain head, through the support view). Nothing here reads a row of owner data.
"""

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final

from runtime.db.config import DatabaseSettings
from runtime.db.connect import connect
from runtime.db.credentials import PasswordSource
from runtime.db.errors import translated
from runtime.db.schema import SCHEMA

_ESTIMATES: Final = """
SELECT c.relname, c.reltuples::bigint FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1
"""


class PostgresRowCounter:
    def __init__(self, base: DatabaseSettings, passwords_for: Callable[[DatabaseSettings], PasswordSource | None],
                 *, connect_timeout: int = 10) -> None:
        self._base = base
        self._passwords_for = passwords_for
        self._timeout = connect_timeout

    def counts(self, endpoint: str, port: int | None) -> Mapping[str, int | None]:
        settings = replace(self._base, host=endpoint, port=port or self._base.port, hostaddr=None,
                           connect_timeout=self._timeout, application_name="platform-restore-verify")
        counts: dict[str, int | None] = {}
        with translated(), connect(settings, self._passwords_for(settings)) as conn:
            for table, estimate in conn.execute(_ESTIMATES, (SCHEMA,)).fetchall():
                counts[f"{table} (estimated)"] = None if estimate < 0 else int(estimate)  # -1: never analysed
            head = conn.execute("SELECT seq FROM support.audit_chain_head").fetchone()
            counts["audit_chain_head"] = None if head is None else int(head[0])
        return counts
