"""Incidents and their notification outbox in Postgres (P12). Every method is one short transaction on a
connection from `connections` (the jobs role); the rules of the outbox are runtime/breach/outbox.py's.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from runtime.breach.impact import Impact
from runtime.breach.incident import Claimed, Incident
from runtime.breach.outbox import Counts, RetryPolicy
from runtime.db.connect import ConnectionSource
from runtime.db.errors import translated
from runtime.errors import IncidentNotFoundError

_COLUMNS: Final = sql.SQL(
    "id, declared_at, due_at, window_start, window_end, scope, summary, mitigations, contact, chain, "
    "impacted_organisations, impacted_users, impacted_events, vanished_users, assessed_at, completed_at, "
    "overdue_alerted_at"
)
_INSERT_INCIDENT: Final = sql.SQL(
    "INSERT INTO platform.breach_incidents (id, scope_fingerprint, declared_at, due_at, window_start, "
    "window_end, scope, summary, mitigations, contact) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (scope_fingerprint) DO NOTHING RETURNING {}"
).format(_COLUMNS)
_INCIDENT_BY_FINGERPRINT: Final = sql.SQL("SELECT {} FROM platform.breach_incidents WHERE scope_fingerprint = %s"
                                          ).format(_COLUMNS)
_INCIDENT_BY_ID: Final = sql.SQL("SELECT {} FROM platform.breach_incidents WHERE id = %s").format(_COLUMNS)
_DUE: Final = sql.SQL("n.state = 'pending' OR (n.state = 'failed' AND n.next_attempt_at <= %(now)s)")
_DUE_OR_IN_DOUBT: Final = sql.SQL("{} OR (n.state = 'sending' AND n.claimed_at < %(stale)s)").format(_DUE)
_CLAIM: Final = (
    "UPDATE platform.breach_notifications t SET state = 'sending', attempts = t.attempts + 1, "
    "claim = %(claim)s, claimed_at = %(now)s, next_attempt_at = NULL "
    "FROM (SELECT n.owner_id, n.user_id FROM platform.breach_notifications n "
    "      WHERE n.incident_id = %(incident)s AND ({due}) "
    "      ORDER BY n.owner_id, n.user_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) c "
    "WHERE t.incident_id = %(incident)s AND t.owner_id = c.owner_id AND t.user_id = c.user_id "
    "RETURNING t.owner_id, t.user_id, t.data_classes, t.attempts"
)
_SETTLE: Final = (
    "UPDATE platform.breach_notifications SET {assignments} WHERE incident_id = %s AND owner_id = %s "
    "AND user_id = %s AND claim = %s AND state = 'sending'"
)
_SENT: Final = sql.SQL("state = 'sent', sent_at = %s, provider_message_id = %s, last_error = NULL")
_FAILED: Final = sql.SQL("state = 'failed', last_error = %s, next_attempt_at = %s")


class PostgresIncidentStore:
    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    # --- incidents -----------------------------------------------------------------------------------

    def open_incident(
        self,
        *,
        incident_id: uuid.UUID,
        fingerprint: bytes,
        declared_at: datetime,
        due_at: datetime,
        scope: Mapping[str, object],
        window: tuple[datetime, datetime],
        summary: str,
        mitigations: Sequence[str],
        contact: str,
    ) -> tuple[Incident, bool]:
        """The incident of this scope: a new one (True), or the one declared before (False)."""
        params = (incident_id, fingerprint, declared_at, due_at, window[0], window[1], Jsonb(scope), summary,
                  Jsonb(list(mitigations)), contact)
        with translated(), self._connections.connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(_INSERT_INCIDENT, params).fetchone()
            if row is not None:
                return Incident.from_row(row), True
            row = cur.execute(_INCIDENT_BY_FINGERPRINT, (fingerprint,)).fetchone()
        assert row is not None
        return Incident.from_row(row), False

    def get(self, incident_id: uuid.UUID) -> Incident:
        with translated(), self._connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(_INCIDENT_BY_ID, (incident_id,)).fetchone()
        if row is None:
            raise IncidentNotFoundError(
                f"no incident {incident_id}; `python -m runtime breach declare` prints the id of a new one"
            )
        return Incident.from_row(row)

    def record_assessment(self, incident_id: uuid.UUID, chain: Mapping[str, object], impact: Impact,
                          now: datetime) -> int:
        """Store the impact and add one outbox row per impacted user (existing rows untouched); return how
        many rows were added."""
        tables = [t for org in impact.organisations.values() for t in org.tables.values()]
        users = impact.users
        with translated(), self._connections.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO platform.breach_impacted_data "
                "(incident_id, owner_id, table_name, events, row_count, first_at, last_at, actions) "
                "SELECT %s, o, t, e, r, f, l, string_to_array(a, ',') "
                "FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[], "
                "            %s::timestamptz[], %s::text[]) AS x(o, t, e, r, f, l, a) "
                "ON CONFLICT (incident_id, owner_id, table_name) DO UPDATE SET events = excluded.events, "
                "row_count = excluded.row_count, first_at = excluded.first_at, last_at = excluded.last_at, "
                "actions = excluded.actions",
                (incident_id, [t.owner_id for t in tables], [t.table for t in tables], [t.events for t in tables],
                 [t.rows for t in tables], [t.first_at for t in tables], [t.last_at for t in tables],
                 [",".join(sorted(t.actions)) for t in tables]),
            )
            added = conn.execute(
                "INSERT INTO platform.breach_notifications (incident_id, owner_id, user_id, data_classes, created_at) "
                "SELECT %s, o, u, string_to_array(d, ','), %s FROM unnest(%s::uuid[], %s::uuid[], %s::text[]) "
                "AS x(o, u, d) ON CONFLICT (incident_id, owner_id, user_id) DO NOTHING",
                (incident_id, now, [u.owner_id for u in users], [u.user_id for u in users],
                 [",".join(u.tables) for u in users]),
            ).rowcount
            total = conn.execute("SELECT count(*) FROM platform.breach_notifications WHERE incident_id = %s",
                                 (incident_id,)).fetchone()
            conn.execute(
                "UPDATE platform.breach_incidents SET chain = %s, impacted_organisations = %s, impacted_users = %s, "
                "impacted_events = %s, vanished_users = %s, assessed_at = %s WHERE id = %s",
                (Jsonb(dict(chain)), len(impact.organisations), total[0] if total else 0, impact.events,
                 impact.vanished_users, now, incident_id),
            )
        return int(added)

    def mark_completed(self, incident_id: uuid.UUID, now: datetime) -> None:
        self._update("UPDATE platform.breach_incidents SET completed_at = %s WHERE id = %s AND completed_at IS NULL",
                     (now, incident_id))

    def mark_overdue_alerted(self, incident_id: uuid.UUID, now: datetime) -> None:
        self._update("UPDATE platform.breach_incidents SET overdue_alerted_at = %s WHERE id = %s", (now, incident_id))

    def _update(self, query: str | sql.Composed | sql.SQL, params: Sequence[object]) -> int:
        with translated(), self._connections.connection() as conn, conn.transaction():
            return int(conn.execute(query, params).rowcount)

    # --- the outbox ----------------------------------------------------------------------------------

    def claim(self, incident_id: uuid.UUID, *, now: datetime, limit: int, policy: RetryPolicy,
              resend_in_doubt: bool = False) -> list[Claimed]:
        """Claim up to `limit` due rows (pending, failed and due, and in-doubt ones when asked), committing
        `sending` and the attempt BEFORE anything is sent."""
        claim = uuid.uuid4()
        query = sql.SQL(_CLAIM).format(due=_DUE_OR_IN_DOUBT if resend_in_doubt else _DUE)
        params = {"claim": claim, "now": now, "incident": incident_id, "limit": limit, "stale": now - policy.lease}
        with translated(), self._connections.connection() as conn, conn.transaction():
            rows = conn.execute(query, params).fetchall()
        return sorted((Claimed(o, u, tuple(d), int(a), claim) for o, u, d, a in rows),
                      key=lambda c: (c.owner_id, c.user_id))

    def settle_sent(self, incident_id: uuid.UUID, item: Claimed, *, now: datetime, message_id: str) -> None:
        self._settle(incident_id, item, _SENT, (now, message_id))

    def settle_failed(self, incident_id: uuid.UUID, item: Claimed, *, code: str, retry_at: datetime | None) -> None:
        self._settle(incident_id, item, _FAILED, (code, retry_at))

    def _settle(self, incident_id: uuid.UUID, item: Claimed, assignments: sql.SQL,
                params: Sequence[object]) -> None:
        # Only the run that claimed the row may settle it (a resend of an in-doubt row re-claims it).
        self._update(sql.SQL(_SETTLE).format(assignments=assignments),
                     (*params, incident_id, item.owner_id, item.user_id, item.claim))

    def reset_failed(self, incident_id: uuid.UUID) -> int:
        """Give the rows that gave up a fresh set of attempts (after the cause was fixed)."""
        return self._update(
            "UPDATE platform.breach_notifications SET state = 'pending', attempts = 0, last_error = NULL "
            "WHERE incident_id = %s AND state = 'failed' AND next_attempt_at IS NULL",
            (incident_id,),
        )

    def counts(self, incident_id: uuid.UUID, *, now: datetime, policy: RetryPolicy) -> Counts:
        query = (
            "SELECT count(*), count(*) FILTER (WHERE state = 'sent'), "
            "count(*) FILTER (WHERE state = 'pending' OR (state = 'failed' AND next_attempt_at IS NOT NULL) "
            "                 OR (state = 'sending' AND claimed_at >= %s)), "
            "count(*) FILTER (WHERE state = 'failed' AND next_attempt_at IS NULL), "
            "count(*) FILTER (WHERE state = 'sending' AND claimed_at < %s) "
            "FROM platform.breach_notifications WHERE incident_id = %s"
        )
        stale = now - policy.lease
        with translated(), self._connections.connection() as conn:
            row = conn.execute(query, (stale, stale, incident_id)).fetchone()
        assert row is not None
        return Counts(*(int(v) for v in row))

    def next_retry_at(self, incident_id: uuid.UUID) -> datetime | None:
        with translated(), self._connections.connection() as conn:
            row = conn.execute(
                "SELECT min(next_attempt_at) FROM platform.breach_notifications "
                "WHERE incident_id = %s AND state = 'failed' AND next_attempt_at IS NOT NULL",
                (incident_id,),
            ).fetchone()
        return None if row is None else row[0]

    # --- what the report reads -----------------------------------------------------------------------

    def impacted_data(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        with translated(), self._connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT owner_id, table_name, events, row_count, first_at, last_at, actions "
                "FROM platform.breach_impacted_data WHERE incident_id = %s ORDER BY owner_id, table_name",
                (incident_id,),
            ).fetchall()

    def notifications(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        with translated(), self._connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT owner_id, user_id, data_classes, state, attempts, sent_at, next_attempt_at, last_error "
                "FROM platform.breach_notifications WHERE incident_id = %s ORDER BY owner_id, user_id",
                (incident_id,),
            ).fetchall()
