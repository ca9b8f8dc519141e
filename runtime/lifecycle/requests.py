"""Export and erasure requests in Postgres (P10, P13): recorded by the data service for the organisation,
run by the lifecycle job, their status readable by both. Every call is one owner-bound transaction.

An erasure request is also the tombstone: from the moment it is recorded, the database refuses every
write of the organisation's SENSITIVE rows and data keys (migration 0007's erasure fence).
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from psycopg import sql
from psycopg.rows import dict_row

from runtime import bounds
from runtime.audit.events import Action
from runtime.db.connect import Connection
from runtime.db.errors import translated
from runtime.db.session import Database, OwnerScope, OwnerTransaction
from runtime.errors import ErasureInProgressError, ExportError, UnknownOrganisationError
from runtime.lifecycle.plan import ErasureState
from runtime.lifecycle.writers import ExportFormat

EXPORT_DEADLINE: Final = timedelta(days=30)  # P13: within 30 days after the contract ends
FENCE_CONSTRAINT: Final = "owner_erasure"  # the constraint name the erasure fence reports (0007_lifecycle.sql)
_EXPORT_COLUMNS: Final = sql.SQL(", ").join(map(sql.Identifier, (
    "id", "owner_id", "requested_at", "requested_by", "contract_ended_at", "deadline", "format", "status",
    "started_at", "completed_at", "location", "manifest_sha256", "row_count", "failure",
)))


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_erasure_refusal(exc: BaseException) -> bool:
    """True when a database write was refused by the erasure fence (the owner is being or was erased)."""
    return getattr(exc, "sqlstate", None) == "23514" and FENCE_CONSTRAINT in str(exc)


@dataclass(frozen=True, slots=True)
class ExportRequest:
    id: uuid.UUID
    owner_id: uuid.UUID
    requested_at: datetime
    requested_by: uuid.UUID
    contract_ended_at: datetime
    deadline: datetime
    format: ExportFormat
    status: str  # requested, running, complete, failed
    started_at: datetime | None
    completed_at: datetime | None
    location: str | None
    manifest_sha256: str | None
    row_count: int | None
    failure: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "ExportRequest":
        digest = row["manifest_sha256"]
        return cls(
            row["id"], row["owner_id"], row["requested_at"], row["requested_by"], row["contract_ended_at"],
            row["deadline"], ExportFormat(row["format"]), row["status"], row["started_at"], row["completed_at"],
            row["location"], None if digest is None else bytes(digest).hex(), row["row_count"], row["failure"],
        )

    def public(self) -> dict[str, Any]:
        """What the data service shows (no location: the download URLs are handed out by the job)."""
        return {
            "id": str(self.id), "format": self.format.value, "status": self.status,
            "requested_at": _iso(self.requested_at), "contract_ended_at": _iso(self.contract_ended_at),
            "deadline": _iso(self.deadline), "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at), "manifest_sha256": self.manifest_sha256,
            "row_count": self.row_count, "failure": self.failure,
        }


@dataclass(frozen=True, slots=True)
class ErasureStatus:
    id: uuid.UUID
    owner_id: uuid.UUID
    state: ErasureState
    requested_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    receipt: Mapping[str, Any] | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "ErasureStatus":
        return cls(row["id"], row["owner_id"], ErasureState(row["state"]), row["requested_at"], row["started_at"],
                   row["completed_at"], row["receipt"])

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "state": self.state.value, "requested_at": _iso(self.requested_at),
            "started_at": _iso(self.started_at), "completed_at": _iso(self.completed_at), "receipt": self.receipt,
        }


def _contract_end(given: datetime) -> datetime:
    if given.tzinfo is None or given.utcoffset() is None:
        raise ExportError("contract_ended_at must carry a time zone (e.g. 2026-01-31T00:00:00+00:00)")
    try:
        return bounds.bounded_instant(given)
    except ValueError:
        raise ExportError(f"contract_ended_at must be from {bounds.TIME_RANGE}; check the date") from None


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def organisation_exists(conn: Connection) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT FROM platform.organisations)").fetchone()
    return bool(row and row[0])


def erasure_row(conn: Connection) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, owner_id, state, requested_at, requested_by, started_at, completed_at, key_ids, canary, "
            "rows_deleted, keys_destroyed, export_objects_deleted, receipt FROM platform.erasures"
        ).fetchone()


def require_live_owner(tx: OwnerTransaction) -> None:
    """The bound organisation exists and no erasure of it is on record; typed errors otherwise."""
    conn = tx.connection
    if erasure_row(conn) is not None:
        raise ErasureInProgressError(
            f"organisation {tx.owner_id} is being erased or was erased; its data can no longer be exported or written"
        )
    if not organisation_exists(conn):
        raise UnknownOrganisationError(f"no organisation {tx.owner_id}; check the id")


class LifecycleRequests:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._database = database
        self._clock = clock

    # --- exports (P13) ---------------------------------------------------------------------------------

    def request_export(self, principal: OwnerScope, fmt: ExportFormat,
                       contract_ended_at: datetime | None = None) -> ExportRequest:
        """Record a request; its deadline is 30 days after the contract ends (default: now).

        A given end must lie in the range of runtime/bounds.py, so the deadline arithmetic cannot overflow."""
        now = self._clock()
        ended = now if contract_ended_at is None else _contract_end(contract_ended_at)
        with translated(), self._database.owner_transaction(principal) as tx:
            require_live_owner(tx)
            with tx.connection.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    sql.SQL("INSERT INTO platform.export_requests (owner_id, id, requested_at, requested_by, "
                            "contract_ended_at, deadline, format, status) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, 'requested') RETURNING {}").format(_EXPORT_COLUMNS),
                    (principal.owner_id, uuid.uuid4(), now, principal.actor_id, ended, ended + EXPORT_DEADLINE,
                     fmt.value),
                ).fetchone()
            assert row is not None
            request = ExportRequest.of(row)
            tx.record(Action.WRITE, "export_requests", [request.id])
        return request

    def export_requests(self, principal: OwnerScope, *, limit: int = 100) -> list[ExportRequest]:
        with translated(), self._database.owner_transaction(principal) as tx, \
                tx.connection.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                sql.SQL("SELECT {} FROM platform.export_requests ORDER BY requested_at DESC LIMIT %s").format(
                    _EXPORT_COLUMNS),
                (limit,),
            ).fetchall()
        return [ExportRequest.of(r) for r in rows]

    def export_request(self, principal: OwnerScope, request_id: uuid.UUID) -> ExportRequest | None:
        with translated(), self._database.owner_transaction(principal) as tx:
            return self._export(tx, request_id)

    def _export(self, tx: OwnerTransaction, request_id: uuid.UUID) -> ExportRequest | None:
        with tx.connection.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                sql.SQL("SELECT {} FROM platform.export_requests WHERE id = %s").format(_EXPORT_COLUMNS),
                (request_id,),
            ).fetchone()
        return None if row is None else ExportRequest.of(row)

    def begin_export(self, principal: OwnerScope, fmt: ExportFormat, *, request_id: uuid.UUID | None = None,
                     contract_ended_at: datetime | None = None) -> ExportRequest:
        """For the job: the given request, else the oldest pending one in this format, else a new one."""
        if request_id is None:
            with translated(), self._database.owner_transaction(principal) as tx:
                require_live_owner(tx)
                found = tx.connection.execute(
                    "SELECT id FROM platform.export_requests WHERE status IN ('requested', 'failed') AND format = %s "
                    "ORDER BY requested_at LIMIT 1", (fmt.value,)
                ).fetchone()
            if found is None:
                return self.request_export(principal, fmt, contract_ended_at)
            request_id = found[0]
        with translated(), self._database.owner_transaction(principal) as tx:
            require_live_owner(tx)
            request = self._export(tx, request_id)
        if request is None:
            raise ExportError(f"organisation {principal.owner_id} has no export request {request_id}")
        if request.status == "complete":
            raise ExportError(f"export request {request_id} is complete already; request a new export")
        if request.format is not fmt:
            raise ExportError(f"export request {request_id} asks for {request.format.value}, not {fmt.value}")
        return request

    def export_running(self, principal: OwnerScope, request_id: uuid.UUID, location: str) -> None:
        self._update_export(principal, request_id,
                            sql.SQL("status = 'running', started_at = %s, location = %s, failure = NULL"),
                            (self._clock(), location))

    def export_complete(self, principal: OwnerScope, request_id: uuid.UUID, *, manifest_sha256: str,
                        rows: int) -> None:
        self._update_export(principal, request_id,
                            sql.SQL("status = 'complete', completed_at = %s, manifest_sha256 = %s, row_count = %s"),
                            (self._clock(), bytes.fromhex(manifest_sha256), rows))

    def export_failed(self, principal: OwnerScope, request_id: uuid.UUID, failure: str) -> None:
        kind = "".join(c for c in failure if c.isascii() and c.isalpha())[:64] or "Error"
        self._update_export(principal, request_id, sql.SQL("status = 'failed', failure = %s"), (kind,))

    def _update_export(self, principal: OwnerScope, request_id: uuid.UUID, assignments: sql.SQL,
                       params: tuple[object, ...]) -> None:
        with translated(), self._database.owner_transaction(principal) as tx:
            tx.connection.execute(
                sql.SQL("UPDATE platform.export_requests SET {} WHERE id = %s").format(assignments),
                (*params, request_id),
            )
            tx.record(Action.WRITE, "export_requests", [request_id])

    # --- erasure (P10) ---------------------------------------------------------------------------------

    def request_erasure(self, principal: OwnerScope) -> ErasureStatus:
        """Record the request (idempotent: a second request returns the first). Writes are refused from now."""
        with translated(), self._database.owner_transaction(principal) as tx:
            conn = tx.connection
            existing = erasure_row(conn)
            if existing is None:
                if not organisation_exists(conn):
                    raise UnknownOrganisationError(f"no organisation {principal.owner_id}; check the id")
                erasure_id = uuid.uuid4()
                conn.execute(
                    "INSERT INTO platform.erasures (owner_id, id, state, requested_at, requested_by) "
                    "VALUES (%s, %s, 'requested', %s, %s)",
                    (principal.owner_id, erasure_id, self._clock(), principal.actor_id),
                )
                tx.record(Action.WRITE, "erasures", [erasure_id])
                existing = erasure_row(conn)
            assert existing is not None
        return ErasureStatus.of(existing)

    def erasure_status(self, principal: OwnerScope) -> ErasureStatus | None:
        with translated(), self._database.owner_transaction(principal) as tx:
            row = erasure_row(tx.connection)
        return None if row is None else ErasureStatus.of(row)
