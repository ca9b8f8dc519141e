"""Drill records in `platform.lifecycle_drills` (jobs role), the yearly evidence for P11 and P12."""

from datetime import datetime

from psycopg.types.json import Jsonb

from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.drill.record import DrillRecord


class PostgresDrillLog:
    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    def add(self, record: DrillRecord) -> None:
        document = record.as_document()
        with translated(), self._connections.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO platform.lifecycle_drills (id, kind, started_at, finished_at, passed, steps, figures, "
                "failure) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (record.id, record.kind, record.started_at, record.finished_at, record.passed,
                 Jsonb(document["steps"]), Jsonb(document["figures"]), record.failure),
            )

    def last_passed(self, kind: str) -> datetime | None:
        """When a drill of this kind last passed (None: never), to say whether the yearly drill is due."""
        with translated(), self._connections.connection() as conn:
            row = conn.execute(
                "SELECT max(finished_at) FROM platform.lifecycle_drills WHERE kind = %s AND passed", (kind,)
            ).fetchone()
        return None if row is None else row[0]
