"""The support views (P4), read as the support role: the audit ledger's chain, head and checkpoints, and the
operational telemetry. The support API (runtime.service.support_api) serves what this returns and writes no SQL;
the chain's head and checkpoints are read with the ledger's own readers (runtime.db.ledger).

Every read takes a pooled connection and translates driver errors (runtime.db.errors): callers see the
runtime's typed errors only.
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg import sql

from runtime.audit.chain import ChainEntry, Checkpoint
from runtime.audit.verify import ChainHead
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.db.ledger import read_head
from runtime.db.schema import SUPPORT_SCHEMA

_EVENTS_AFTER: Final = sql.SQL(
    "SELECT seq, at, event, actor_id, owner_id, fields, prev_hash, hash FROM {} WHERE seq > %s ORDER BY seq LIMIT %s"
).format(sql.Identifier(SUPPORT_SCHEMA, "audit_events"))
_CHECKPOINTS_AFTER: Final = sql.SQL("SELECT seq, at, hash, mac FROM {} WHERE seq > %s ORDER BY seq LIMIT %s").format(
    sql.Identifier(SUPPORT_SCHEMA, "audit_checkpoints")
)
_TELEMETRY_NEWEST: Final = sql.SQL("SELECT id, at, event, fields FROM {} ORDER BY at DESC LIMIT %s").format(
    sql.Identifier(SUPPORT_SCHEMA, "telemetry_events")
)


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """One support.telemetry_events row (NOT_SENSITIVE by construction: runtime.telemetry)."""

    id: uuid.UUID
    at: datetime
    event: str
    fields: Mapping[str, Any]


def _document(value: Any) -> dict[str, Any]:
    document = json.loads(value) if isinstance(value, str | bytes) else value
    return document if isinstance(document, dict) else {}


class SupportViews:
    """Reads of the support.* views, one pooled connection per call."""

    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    def audit_events(self, *, after: int, limit: int) -> list[ChainEntry]:
        """Audit events after chain position `after`, oldest first."""
        with translated(), self._connections.connection() as conn:
            rows = conn.execute(_EVENTS_AFTER, (after, limit)).fetchall()
        return [ChainEntry(int(seq), at, str(event), actor, owner, _document(fields), bytes(prev), bytes(digest))
                for seq, at, event, actor, owner, fields, prev, digest in rows]

    def chain_head(self) -> ChainHead:
        """The chain's last position and hash (position 0 and a zero hash for an empty ledger)."""
        with translated(), self._connections.connection() as conn:
            return read_head(conn)

    def checkpoints(self, *, after: int, limit: int) -> list[Checkpoint]:
        """Keyed checkpoints after position `after`, oldest first."""
        with translated(), self._connections.connection() as conn:
            rows = conn.execute(_CHECKPOINTS_AFTER, (after, limit)).fetchall()
        return [Checkpoint(int(seq), at, bytes(digest), bytes(mac)) for seq, at, digest, mac in rows]

    def telemetry_events(self, *, limit: int) -> list[TelemetryRecord]:
        """Operational telemetry, newest first."""
        with translated(), self._connections.connection() as conn:
            rows = conn.execute(_TELEMETRY_NEWEST, (limit,)).fetchall()
        return [TelemetryRecord(i, at, str(event), _document(fields)) for i, at, event, fields in rows]
