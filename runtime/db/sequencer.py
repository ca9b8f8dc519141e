"""The audit sequencer (P14): the one writer of chain positions, links, the head and signed checkpoints.

Queue, sequence and sign are separate steps (as in Trillian and Tessera). Writers queue events in their own
transactions (runtime/db/ledger.py); this loop, `python -m runtime audit sequence`, runs as its own ECS service
under its own database role (platform_sequencer) and task role (the only one allowed kms:Sign on the checkpoint
key), so the internet-facing data service holds neither the right to reorder the chain nor the key that signs it.

`integrate` takes up to `batch` queued events in queue order and, in ONE transaction, gives them consecutive
positions and SHA-256 links and moves the head: a crash or restart at any point commits all of a batch or none of
it, so nothing is lost and nothing is chained twice. The head row is locked for that transaction, so even two
sequencers (a rolling deploy) cannot interleave; an advisory lock (`run`) keeps the second one on standby.

`checkpoint_if_due` signs (position, hash, time, cadence, previous checkpoint) when `every` events are unsigned or
the oldest unsigned one was sequenced `seconds` ago, records it in the database, then writes it to the Object Lock
bucket. A batch never runs past `every` unsigned positions, so the promised cadence holds across crashes; a
checkpoint recorded but not yet in the bucket (a crash between the two) is uploaded by `reconcile` at start.
"""

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import psycopg
from psycopg import sql

from runtime.audit.chain import link_v2
from runtime.audit.checkpoints import SignedCheckpoint, checkpoint_body, parse_checkpoint
from runtime.db.errors import translated
from runtime.db.ledger import LINKED_COLUMNS, binary_rows
from runtime.errors import SchemaError

Connection = psycopg.Connection[Any]
LOG = logging.getLogger(__name__)
ADVISORY_LOCK: Final = 0x5EC0_0016  # pg_try_advisory_lock key of the sequencer's leader
RECONCILE_LAST: Final = 16  # checkpoints re-checked against the bucket at start

_HEAD = "SELECT seq, hash, cutover FROM platform.audit_chain_head WHERE singleton FOR UPDATE"
_LAST_CHECKPOINT = """
SELECT body, signature, key_id FROM platform.audit_signed_checkpoints ORDER BY seq DESC LIMIT 1
"""
# COPY BINARY rows: field count (2 bytes), the id (4 + 8), then the linked columns as the link hashes them.
_QUEUED = ("COPY (SELECT id, {} FROM platform.audit_events WHERE seq IS NULL ORDER BY id LIMIT {}) "
           "TO STDOUT (FORMAT binary)")
_ID, _LINKED = slice(6, 14), 14
_LINK = """
UPDATE platform.audit_events e SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash,
       sequenced_at = clock_timestamp()
FROM unnest(%(ids)b::bigint[], %(seqs)b::bigint[], %(prevs)b::bytea[], %(hashes)b::bytea[])
     AS u(id, seq, prev_hash, hash)
WHERE e.id = u.id AND e.seq IS NULL
"""
_MOVE_HEAD = "UPDATE platform.audit_chain_head SET seq = %s, hash = %s WHERE singleton"
_RECORD = """
INSERT INTO platform.audit_signed_checkpoints (seq, at, hash, body, signature, key_id)
VALUES (%s, %s, %s, %s, %s, %s)
"""
_RECENT = "SELECT body, signature, key_id FROM platform.audit_signed_checkpoints ORDER BY seq DESC LIMIT %s"


class CheckpointSigner(Protocol):
    """runtime.lifecycle.receipt_signing's KMS (or local) ECDSA P-256 signers."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class CheckpointStore(Protocol):
    """Where signed checkpoints are published (runtime/checkpoint_bucket.py)."""

    def put(self, checkpoint: SignedCheckpoint) -> None: ...

    def has(self, seq: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class SequencerConfig:
    environment: str
    every: int  # a checkpoint at most this many positions after the last
    seconds: int  # ... and at most this long after an event was sequenced
    batch: int = 2000

    def __post_init__(self) -> None:
        if self.every < 1 or self.seconds < 1 or self.batch < 1:
            raise ValueError("the sequencer's every, seconds and batch must be >= 1")


def _last_checkpoint(conn: Connection) -> SignedCheckpoint | None:
    row = conn.execute(_LAST_CHECKPOINT).fetchone()
    return None if row is None else parse_checkpoint(bytes(row[0]), bytes(row[1]), str(row[2]))


def _head(conn: Connection) -> tuple[int, bytes, int]:
    row = conn.execute(_HEAD).fetchone()
    if row is None:
        raise SchemaError("the audit chain head row is missing; run `python -m runtime db migrate`")
    return int(row[0]), bytes(row[1]), int(row[2])


class Sequencer:
    def __init__(self, config: SequencerConfig, signer: CheckpointSigner, store: CheckpointStore | None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._signer = signer
        self._store = store
        self._clock = clock
        self._unsigned_since: float | None = None  # when the oldest unsigned position was sequenced
        self._started = False

    def __repr__(self) -> str:
        return f"Sequencer({self.config})"

    def step(self, conn: Connection) -> int:
        """Integrate one batch and sign if due; the number of events integrated. The first step signs first
        what is due already (the old chain's head after the cut-over, a tail a crash left unsigned)."""
        if not self._started:
            self.checkpoint_if_due(conn)
            self._started = True
        count = self.integrate(conn)
        self.checkpoint_if_due(conn)
        return count

    def integrate(self, conn: Connection) -> int:
        with translated(), conn.transaction():
            seq, prev, cutover = _head(conn)
            last = _last_checkpoint(conn)
            if last is None and cutover > 0:
                return 0  # the old chain's head is signed first: it anchors the new one
            room = (last.seq if last else cutover) + self.config.every - seq
            if room <= 0:
                return 0
            query = sql.SQL(_QUEUED).format(sql.SQL(LINKED_COLUMNS), sql.Literal(min(room, self.config.batch)))
            with conn.cursor().copy(query) as copy:
                rows = list(binary_rows(iter(copy)))
            if not rows:
                return 0
            ids, seqs, prevs, hashes = [], [], [], []
            for row in rows:
                seq += 1
                digest = link_v2(prev, seq, row[_LINKED:])
                ids.append(int.from_bytes(row[_ID], "big", signed=True))
                seqs.append(seq)
                prevs.append(prev)
                hashes.append(digest)
                prev = digest
            linked = conn.execute(_LINK, {"ids": ids, "seqs": seqs, "prevs": prevs, "hashes": hashes}).rowcount
            if linked != len(ids):
                raise SchemaError(f"the sequencer linked {linked} of {len(ids)} queued events; another writer "
                                  "changed the queue")
            conn.execute(_MOVE_HEAD, (seq, prev))
        if self._unsigned_since is None:
            self._unsigned_since = self._clock()
        return len(ids)

    def _due(self, seq: int, signed: int, first_of_cutover: bool) -> bool:
        if first_of_cutover:
            return True
        if seq <= signed:
            return False
        if self._unsigned_since is None:  # a tail left unsigned by a crash: its clock starts now
            self._unsigned_since = self._clock()
        return seq - signed >= self.config.every or self._clock() - self._unsigned_since >= self.config.seconds

    def checkpoint_if_due(self, conn: Connection, *, force: bool = False) -> SignedCheckpoint | None:
        """Sign the head if a checkpoint is due (or `force`d and anything is unsigned), record it, publish it."""
        with translated(), conn.transaction():
            seq, chain_hash, cutover = _head(conn)
            last = _last_checkpoint(conn)
            signed = last.seq if last else cutover
            first_of_cutover = last is None and cutover > 0
            if not (self._due(seq, signed, first_of_cutover) or (force and seq > signed)):
                return None
            at = datetime.now(UTC)
            body = checkpoint_body(
                environment=self.config.environment, seq=seq, chain_hash=chain_hash, at=at,
                cutover=cutover, every=self.config.every, seconds=self.config.seconds, previous=last,
            )
            checkpoint = parse_checkpoint(body, self._signer.sign(body), self._signer.key_id)
            conn.execute(_RECORD, (seq, at, chain_hash, body, checkpoint.signature, checkpoint.key_id))
        self._unsigned_since = None
        if self._store is not None:
            self._store.put(checkpoint)
        return checkpoint

    def reconcile(self, conn: Connection) -> int:
        """Publish the recent recorded checkpoints the bucket lacks (a crash between record and publish)."""
        if self._store is None:
            return 0
        with translated(), conn.transaction():
            rows = conn.execute(_RECENT, (RECONCILE_LAST,)).fetchall()
        published = 0
        for body, signature, key_id in rows:
            checkpoint = parse_checkpoint(bytes(body), bytes(signature), str(key_id))
            if not self._store.has(checkpoint.seq):
                self._store.put(checkpoint)
                published += 1
        return published


def run(connect: Callable[[], AbstractContextManager[Connection]], sequencer: Sequencer, *,
        stop: threading.Event, poll_seconds: float = 0.05, standby_seconds: float = 2.0) -> None:
    """Lead (advisory lock) and sequence until `stop` is set; on standby while another sequencer leads."""
    with connect() as conn:
        conn.autocommit = True
        while not stop.is_set():
            with translated():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK,)).fetchone()
            if row is not None and row[0]:
                break
            LOG.info("audit sequencer on standby: another one leads")
            stop.wait(standby_seconds)
        if stop.is_set():
            return
        LOG.info("audit sequencer leading; %d checkpoint(s) published at start", sequencer.reconcile(conn))
        while not stop.is_set():
            if sequencer.step(conn) < sequencer.config.batch:
                stop.wait(poll_seconds)
        sequencer.checkpoint_if_due(conn, force=True)  # sign what was sequenced before stopping
