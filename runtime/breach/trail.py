"""Reading the audit trail for a breach (P12, P14): verify the window's part of the chain, then aggregate the
in-scope events, both from ONE read-only snapshot, through the support.* views (the jobs role reads those).

The aggregation runs in the database (one pass over the window, grouped per organisation and table), so a
window of ten million events comes back as a few thousand rows; only the window's chain entries stream
through Python, for their MACs.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg import sql
from psycopg.pq import TransactionStatus

from runtime.audit.chain import ChainKey, Checkpoint
from runtime.audit.events import EVENT_NAME, Action
from runtime.audit.segments import Claim
from runtime.audit.verify import VerifyReport
from runtime.breach.chain_window import WindowVerification, span_for, valid_checkpoints
from runtime.breach.impact import USERS_TABLE, TableImpact, UserRowsTouched
from runtime.breach.scope import BreachScope
from runtime.db.audit_verify import signed_checkpoints, verify_range
from runtime.db.errors import translated
from runtime.db.ledger import read_checkpoints, read_cutover, read_head
from runtime.db.schema import SUPPORT_SCHEMA
from runtime.errors import SchemaError

Connection = psycopg.Connection[Any]
SEQUENCING_ALLOWANCE: Final = timedelta(minutes=5)
_ACTIONS: Final = tuple(Action)
_WORK_MEM: Final = sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal("64MB"))
_UNLISTED = sql.SQL("(fields->>'row_count')::bigint > jsonb_array_length(fields->'row_ids')")


def scope_filter(scope: BreachScope) -> tuple[sql.Composable, list[object]]:
    """WHERE clause (and its parameters) selecting the in-scope events; only the filters given."""
    conditions: list[sql.Composable] = [
        sql.SQL("event = %s"),
        sql.SQL("at >= %s"),
        sql.SQL("at < %s"),
    ]
    params: list[object] = [EVENT_NAME, scope.start, scope.end]
    if scope.tables:
        conditions.append(sql.SQL("fields->>'table' = ANY(%s::text[])"))
        params.append(sorted(scope.tables))
    if scope.actors:
        conditions.append(sql.SQL("actor_id = ANY(%s::uuid[])"))
        params.append(sorted(scope.actors))
    if scope.organisations:
        conditions.append(sql.SQL("owner_id = ANY(%s::uuid[])"))
        params.append(sorted(scope.organisations))
    if scope.keys:
        conditions.append(sql.SQL("(fields->'row_ids' ?| %s::text[] OR {})").format(_UNLISTED))
        params.append(sorted(str(k) for k in scope.keys))
    return sql.SQL(" AND ").join(conditions), params


class PostgresTrail:
    """The ledger as the breach job reads it. Use `snapshot()` around verify + impact."""

    def __init__(self, conn: Connection, *, schema: str = SUPPORT_SCHEMA,
                 public_key: ec.EllipticCurvePublicKey | None = None, environment: str = "") -> None:
        self._conn = conn
        self._schema = schema
        self._public_key = public_key  # of the signed checkpoints (runtime/wiring/audit_trail.py)
        self._environment = environment

    def _view(self, name: str) -> sql.Identifier:
        return sql.Identifier(self._schema, name)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ, read-only transaction: what is verified is what is counted."""
        conn = self._conn
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise SchemaError("the breach trail needs an idle connection (it opens its own snapshot)")
        saved = conn.isolation_level, conn.read_only
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        try:
            with translated(), conn.transaction():
                # Aggregating a long window hashes tens of thousands of (organisation, table) groups: give this
                # one transaction the memory to do it without spilling.
                conn.execute(_WORK_MEM)
                yield
        finally:
            conn.isolation_level, conn.read_only = saved

    def verify_window(self, key: ChainKey, scope: BreachScope) -> WindowVerification:
        """The window's part of the chain, bounded by checkpoints: the HMAC ones before the cut-over (MAC-checked
        with `key`) and the signed ones after it (signature-checked with the public key; without one, none is
        trusted and the part runs to the head)."""
        with translated():
            head, cutover = read_head(self._conn, self._schema), read_cutover(self._conn, self._schema)
            hmac_checkpoints, bad = valid_checkpoints(key, read_checkpoints(self._conn, self._schema))
            bounds = [cp for cp in hmac_checkpoints if cp.seq <= cutover]
            if self._public_key is not None:
                signed, bad_signed = signed_checkpoints(self._conn, self._public_key, self._environment,
                                                        self._schema)
                bounds += [Checkpoint(cp.seq, cp.at, cp.hash, b"") for cp in signed]
                bad += bad_signed
            # An event is sequenced (and covered by a checkpoint) a little after it happened: close the span
            # with a checkpoint taken SEQUENCING_ALLOWANCE after the window ends.
            span = span_for(bounds, head, scope.start, scope.end + SEQUENCING_ALLOWANCE)
            claims = [Claim(cp.seq, cp.hash) for cp in bounds]
            if head.seq > 0 and head.seq not in {c.seq for c in claims}:
                claims.append(Claim(head.seq, head.hash, is_checkpoint=False))
            claims.sort(key=lambda c: c.seq)
            report = VerifyReport(0, span.last) if span.empty else verify_range(
                self._conn, key, cutover=cutover, first=span.first, last=span.last, anchor=span.anchor,
                claims=claims, schema=self._schema)
        return WindowVerification(span, report, tuple(sorted(bad)))

    def tables_touched(self, scope: BreachScope) -> list[TableImpact]:
        # One flag per action instead of array_agg(DISTINCT ...): it lets the planner hash-aggregate in parallel
        # over a sequential scan when the window is most of the ledger.
        where, params = scope_filter(scope)
        flags = sql.SQL(", ").join(
            sql.SQL("bool_or(action = {})").format(sql.Literal(a.value)) for a in _ACTIONS
        )
        query = sql.SQL(
            "SELECT owner_id, table_name, count(*), sum(row_count), min(at), max(at), {flags} "
            "FROM (SELECT owner_id, at, fields->>'table' AS table_name, (fields->>'row_count')::bigint AS row_count, "
            "             fields->>'action' AS action FROM {view} WHERE {where}) e "
            "GROUP BY owner_id, table_name"
        ).format(flags=flags, view=self._view("audit_events"), where=where)
        with translated():
            rows = self._conn.execute(query, params).fetchall()
        return [
            TableImpact(owner, str(table), int(events), int(count or 0), first, last,
                        frozenset(a.value for a, used in zip(_ACTIONS, used_flags, strict=True) if used))
            for owner, table, events, count, first, last, *used_flags in rows
        ]

    def users_touched(self, scope: BreachScope) -> list[UserRowsTouched]:
        """Rows of `users` the in-scope events touched, per organisation (with keys: only those keys)."""
        if scope.tables and USERS_TABLE not in scope.tables:
            return []
        where, params = scope_filter(scope)
        key_match = sql.SQL("")
        if scope.keys:
            key_match = sql.SQL(" AND r.id = ANY(%s::text[])")
        query = sql.SQL(
            "SELECT e.owner_id, array_agg(DISTINCT r.id) FILTER (WHERE r.id IS NOT NULL), bool_or(e.unlisted) "
            "FROM (SELECT owner_id, fields->'row_ids' AS ids, {unlisted} AS unlisted FROM {view} "
            "      WHERE {where} AND fields->>'table' = %s) e "
            "LEFT JOIN LATERAL jsonb_array_elements_text(e.ids) AS r(id) ON true{key_match} "
            "GROUP BY e.owner_id"
        ).format(unlisted=_UNLISTED, view=self._view("audit_events"), where=where, key_match=key_match)
        params = [*params, USERS_TABLE]
        if scope.keys:
            params.append(sorted(str(k) for k in scope.keys))
        with translated():
            rows = self._conn.execute(query, params).fetchall()
        return [UserRowsTouched(owner, frozenset(uuid.UUID(i) for i in ids or ()), bool(unlisted))
                for owner, ids, unlisted in rows]
