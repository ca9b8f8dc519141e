"""`audit verify` (P14): the database's chain against the signed checkpoints, trusting nothing but the public key.

1. One REPEATABLE READ, read-only snapshot (exported, so every worker reads the same one): the head, the signed
   checkpoint rows, the highest position.
2. The checkpoints: database rows and bucket objects, signatures checked (runtime/audit/published.py).
3. The old HMAC-linked chain (positions 1..cut-over, if any) with the chain key, as before migration 0012.
4. The SHA-256 chain in segments between trusted checkpoints (and the head), in worker processes: each COPYs its
   positions (binary) and hashes a slice of each row (runtime/audit/segments.py).
The report names the first bad position over all of these.
"""

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg import sql
from psycopg.pq import TransactionStatus

from runtime.audit.chain import GENESIS, ChainKey
from runtime.audit.checkpoints import CheckpointFormatError, SignedCheckpoint, parse_checkpoint
from runtime.audit.published import Cadence, Published, analyse, first_problem
from runtime.audit.segments import Claim, Segment, SegmentReport, check_segment, plan_segments
from runtime.audit.verify import Problem, Span, VerifyReport, valid_checkpoints, verify_span
from runtime.checkpoint_bucket import CheckpointBucket
from runtime.db.errors import translated
from runtime.db.ledger import copy_rows, iter_entries, read_checkpoints, read_cutover, read_head, read_signed_rows
from runtime.db.schema import SUPPORT_SCHEMA
from runtime.errors import AuditKeyError, SchemaError

Connection = psycopg.Connection[Any]
Connector = Callable[[], Connection]  # picklable (a module-level function or a partial): workers call it
SEGMENTS_PER_WORKER: Final = 4  # smaller segments even out the workers' finishing times
_EVENTS = sql.Identifier(SUPPORT_SCHEMA, "audit_events")


@dataclass(frozen=True, slots=True)
class Trust:
    """What verification starts from: the environment's public key and name, and where checkpoints are kept."""

    public_key: ec.EllipticCurvePublicKey
    environment: str
    bucket: CheckpointBucket | None  # None: the database's rows only (tests, and a `--no-bucket` run)
    cadence: Cadence


def _snapshot(conn: Connection, snapshot: str | None) -> None:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot is not None:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))


def check_segments(connect: Connector, snapshot: str | None, segments: list[Segment]) -> list[SegmentReport]:
    """Verify `segments` on a connection of this process (a worker's task)."""
    with translated(), connect() as conn:
        conn.autocommit = True
        _snapshot(conn, snapshot)
        try:
            return [check_segment(s, copy_rows(conn, s.first, s.last)) for s in segments]
        finally:
            conn.execute("ROLLBACK")


def _sequenced_at(conn: Connection, seq: int) -> datetime | None:
    row = conn.execute(sql.SQL("SELECT sequenced_at FROM {} WHERE seq = %s").format(_EVENTS), (seq,)).fetchone()
    return None if row is None else row[0]


def signed_checkpoints(conn: Connection, public_key: ec.EllipticCurvePublicKey, environment: str,
                       schema: str = SUPPORT_SCHEMA) -> tuple[list[SignedCheckpoint], list[int]]:
    """The database's signed checkpoints that verify with `public_key`, and the positions of those that do not."""
    good: list[SignedCheckpoint] = []
    bad: list[int] = []
    for row in read_signed_rows(conn, schema):
        try:
            cp = parse_checkpoint(row.body, row.signature, row.key_id)
        except CheckpointFormatError:
            bad.append(row.seq)
            continue
        if cp.environment == environment and cp.verifies(public_key) and (cp.seq, cp.hash) == (row.seq, row.hash):
            good.append(cp)
        else:
            bad.append(row.seq)
    return good, bad


def verify_range(conn: Connection, key: ChainKey | None, *, cutover: int, first: int, last: int, anchor: bytes,
                 claims: list[Claim], schema: str = SUPPORT_SCHEMA) -> VerifyReport:
    """Positions first..last on this connection (its transaction): the HMAC-linked part (up to `cutover`, with
    `key`) then the SHA-256-linked part. `anchor` is the hash of position first - 1; `claims` are the
    (position, hash) pairs the range must contain, the last of them at `last`."""
    checked = 0
    if first <= cutover:
        if key is None:
            raise AuditKeyError(f"positions 1..{cutover} were chained before the cut-over to signed checkpoints "
                                "(HMAC links): give the audit chain key to verify them")
        end = min(last, cutover)
        old = verify_span(key, Span(first, end, anchor), iter_entries(conn, first, end, schema),
                          claims=[(c.seq, c.hash) for c in claims if c.seq <= end])
        if not old.ok:
            return old
        checked, first = old.checked, end + 1
        row = conn.execute(sql.SQL("SELECT hash FROM {} WHERE seq = %s").format(
            sql.Identifier(schema, "audit_events")), (end,)).fetchone()
        anchor = bytes(row[0]) if row is not None else anchor
    if first > last:
        return VerifyReport(checked, last)
    segment = Segment(first, last, anchor, tuple(c for c in claims if first <= c.seq <= last))
    report = check_segment(segment, copy_rows(conn, first, last, schema))
    checked += report.checked
    if report.problem is None:
        return VerifyReport(checked, last)
    position = report.position if report.position is not None else first
    return VerifyReport(checked, position - 1, report.problem, position)


def _legacy(conn: Connection, key: ChainKey | None, cutover: int, published: Published,
            problems: list[tuple[int, Problem]]) -> tuple[int, bytes]:
    """Verify positions 1..cutover (HMAC links); returns (events checked, the hash at the cut-over)."""
    if cutover == 0:
        return 0, GENESIS
    claims: list[Claim] = []
    if key is not None:
        hmac_checkpoints, bad = valid_checkpoints(key, read_checkpoints(conn))
        problems.extend((seq, Problem.BAD_CHECKPOINT) for seq in bad)
        claims = [Claim(cp.seq, cp.hash) for cp in hmac_checkpoints if cp.seq < cutover]
    signed = [cp.hash for cp in published.trusted if cp.seq == cutover]
    row = conn.execute(sql.SQL("SELECT hash FROM {} WHERE seq = %s").format(_EVENTS), (cutover,)).fetchone()
    at_cutover = signed[0] if signed else bytes(row[0]) if row is not None and row[0] is not None else GENESIS
    report = verify_range(conn, key, cutover=cutover, first=1, last=cutover, anchor=GENESIS,
                          claims=[*claims, Claim(cutover, at_cutover, is_checkpoint=bool(signed))])
    if report.problem is not None and report.position is not None:
        problems.append((report.position, report.problem))
    return report.checked, at_cutover


def _claims(published: Published, cutover: int, head_seq: int, head_hash: bytes,
            problems: list[tuple[int, Problem]]) -> list[Claim]:
    claims = [Claim(cp.seq, cp.hash) for cp in published.trusted if cp.seq > cutover]
    at_head = [c for c in claims if c.seq == head_seq]
    if at_head and at_head[0].hash != head_hash:
        problems.append((head_seq, Problem.REWOUND_HEAD))
    if head_seq > max([cutover, *(c.seq for c in claims)]):
        claims.append(Claim(head_seq, head_hash, is_checkpoint=False))
    return claims


def verify_audit_trail(connect: Connector, trust: Trust, *, chain_key: ChainKey | None = None, workers: int = 1,
                       now: datetime | None = None) -> VerifyReport:
    now = now or datetime.now(UTC)
    problems: list[tuple[int, Problem]] = []
    with translated(), connect() as conn:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise SchemaError("audit verify needs an idle connection (it opens its own snapshot)")
        conn.autocommit = True
        _snapshot(conn, None)
        try:
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else None
            head, cutover = read_head(conn), read_cutover(conn)
            top = conn.execute(sql.SQL("SELECT max(seq) FROM {}").format(_EVENTS)).fetchone()
            rows = read_signed_rows(conn)
            last_signed = max((r.seq for r in rows), default=cutover)
            bucket = trust.bucket
            published = analyse(
                public_key=trust.public_key, environment=trust.environment, rows=rows,
                bucket_positions=list(bucket.positions()) if bucket else (),
                fetch=bucket.read if bucket else (lambda seq: b""), head=head, cutover=cutover,
                max_sequenced=int(top[0]) if top and top[0] is not None else 0,
                tail_sequenced_at=_sequenced_at(conn, last_signed + 1), now=now, cadence=trust.cadence,
            )
            problems.extend(published.problems)
            legacy_checked, anchor = _legacy(conn, chain_key, published.cutover, published, problems)
            claims = _claims(published, published.cutover, head.seq, head.hash, problems)
            segments = plan_segments((published.cutover, anchor), claims, parts=workers * SEGMENTS_PER_WORKER)
            reports = _run(connect, snapshot, segments, workers)
        finally:
            conn.execute("ROLLBACK")
    for segment, report in zip(segments, reports, strict=True):
        if report.problem is not None and report.position is not None:
            problems.append((report.position, report.problem))
        elif report.problem is not None:
            problems.append((segment.first, report.problem))
    checked = legacy_checked + sum(r.checked for r in reports)
    found = first_problem(problems)
    if found is None:
        return VerifyReport(checked, head.seq)
    position, problem = found
    return VerifyReport(checked, position - 1, problem, position)


def _run(connect: Connector, snapshot: str | None, segments: list[Segment], workers: int) -> list[SegmentReport]:
    if workers <= 1 or len(segments) <= 1:
        return check_segments(connect, snapshot, segments)
    # A single-threaded caller (the CLI) forks: workers start at once. One that runs threads (a connection pool's)
    # uses a fork server, so no worker inherits a lock another thread held.
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
    shares = [segments[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = list(pool.map(check_segments, [connect] * workers, [snapshot] * workers, shares))
    by_segment = {}
    for share, result in zip(shares, results, strict=True):
        by_segment.update({id(s): r for s, r in zip(share, result, strict=True)})
    return [by_segment[id(s)] for s in segments]
