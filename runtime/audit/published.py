"""Which signed checkpoints to trust, and what the set of them says about tampering (P14). Pure.

Two copies of each checkpoint exist: the database's (fast to read, but anyone with database access can delete
or change rows) and the Object Lock bucket's (which nobody can delete or overwrite before its retention ends, in
COMPLIANCE mode not even the account root). A checkpoint is trusted when its signature verifies with the
environment's public key, whichever copy it came from. Findings, each at a chain position:

- a row or object whose signature, environment or columns do not check out      BAD_CHECKPOINT
- a checkpoint in the bucket but not in the database, or one the next names
  (`previous`) that neither copy has                                            DELETED_CHECKPOINT
- two checkpoints further apart than the first promised (`every`), or a head
  that ran past the last checkpoint by more than that, or for longer than its
  `seconds` (plus grace)                                                        CADENCE_GAP
- a head behind a signed checkpoint or behind sequenced events                  REWOUND_HEAD
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec

from runtime.audit.checkpoints import CheckpointFormatError, SignedCheckpoint, parse_checkpoint, parse_document
from runtime.audit.verify import ChainHead, Problem

# How long past a checkpoint's promised `seconds` a sequenced but unsigned tail is tolerated (a verify that runs
# between the sequencer's integration and its signature must not raise an alarm).
TAIL_GRACE: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """A row of audit_signed_checkpoints, as the database holds it (nothing checked yet)."""

    seq: int
    hash: bytes
    body: bytes
    signature: bytes
    key_id: str


@dataclass(frozen=True, slots=True)
class Cadence:
    """The cadence to expect when no signed checkpoint says it (a chain never checkpointed yet)."""

    every: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Published:
    trusted: tuple[SignedCheckpoint, ...]  # ascending positions, signatures verified
    problems: tuple[tuple[int, Problem], ...] = ()
    cutover: int = 0
    notes: tuple[str, ...] = field(default=())


def _signed(cp: SignedCheckpoint, public_key: ec.EllipticCurvePublicKey, environment: str) -> bool:
    return cp.environment == environment and cp.verifies(public_key)


def analyse(
    *,
    public_key: ec.EllipticCurvePublicKey,
    environment: str,
    rows: Iterable[CheckpointRow],
    bucket_positions: Iterable[int],
    fetch: Callable[[int], bytes],
    head: ChainHead,
    cutover: int,
    max_sequenced: int,
    tail_sequenced_at: datetime | None,
    now: datetime,
    cadence: Cadence,
) -> Published:
    """Check the database's checkpoint rows against the bucket's (`fetch(seq)` reads one object) and the head.
    `cutover` is the database's (used only when no signed checkpoint states it), `max_sequenced` the highest
    position any event holds, `tail_sequenced_at` when the event after the last checkpoint was sequenced."""
    problems: list[tuple[int, Problem]] = []
    trusted: dict[int, SignedCheckpoint] = {}
    in_database: set[int] = set()
    for row in rows:
        in_database.add(row.seq)
        try:
            cp = parse_checkpoint(row.body, row.signature, row.key_id)
        except CheckpointFormatError:
            problems.append((row.seq, Problem.BAD_CHECKPOINT))
            continue
        if not _signed(cp, public_key, environment) or (cp.seq, cp.hash) != (row.seq, row.hash):
            problems.append((row.seq, Problem.BAD_CHECKPOINT))
            continue
        trusted[cp.seq] = cp
    for seq in sorted(set(bucket_positions) - set(trusted)):
        try:
            cp = parse_document(fetch(seq))
        except CheckpointFormatError:
            problems.append((seq, Problem.BAD_CHECKPOINT))
            continue
        if not _signed(cp, public_key, environment) or cp.seq != seq:
            problems.append((seq, Problem.BAD_CHECKPOINT))
            continue
        trusted[seq] = cp
        if seq not in in_database:
            problems.append((seq, Problem.DELETED_CHECKPOINT))
    ordered = [trusted[s] for s in sorted(trusted)]

    cutovers = {cp.cutover for cp in ordered}
    if len(cutovers) > 1:
        problems.extend((cp.seq, Problem.BAD_CHECKPOINT) for cp in ordered if cp.cutover != ordered[0].cutover)
    signed_cutover = ordered[0].cutover if ordered else cutover

    before: SignedCheckpoint | None = None
    for cp in ordered:
        if cp.previous is None:
            if before is not None:
                problems.append((cp.seq, Problem.BAD_CHECKPOINT))  # a second "first" checkpoint
        elif cp.previous.seq not in trusted:
            problems.append((cp.previous.seq, Problem.DELETED_CHECKPOINT))
        elif before is None or cp.previous.seq != before.seq or cp.previous.digest != before.digest:
            problems.append((cp.seq, Problem.BAD_CHECKPOINT))
        start, every = (before.seq, before.every) if before else (signed_cutover, cp.every)
        if cp.seq - start > every:
            problems.append((start + every + 1, Problem.CADENCE_GAP))
        before = cp

    last_seq, every, seconds = signed_cutover, cadence.every, cadence.seconds
    if before is not None:
        last_seq, every, seconds = before.seq, before.every, before.seconds
    if head.seq < max(last_seq, max_sequenced):
        problems.append((head.seq + 1, Problem.REWOUND_HEAD))
    elif head.seq - last_seq > every:
        problems.append((last_seq + every + 1, Problem.CADENCE_GAP))
    elif head.seq > last_seq and tail_sequenced_at is not None \
            and now - tail_sequenced_at > timedelta(seconds=seconds) + TAIL_GRACE:
        problems.append((last_seq + 1, Problem.CADENCE_GAP))
    return Published(tuple(ordered), tuple(problems), signed_cutover)


def first_problem(problems: Iterable[tuple[int, Problem]]) -> tuple[int, Problem] | None:
    """The lowest position; at one position the chain's own finding (the more specific) wins."""
    rank: Mapping[Problem, int] = {
        Problem.MISSING: 0, Problem.BROKEN_LINK: 0, Problem.EDITED: 0, Problem.TRUNCATED: 1,
        Problem.REWOUND_HEAD: 2, Problem.DELETED_CHECKPOINT: 3, Problem.BAD_CHECKPOINT: 4, Problem.CADENCE_GAP: 5,
    }
    return min(problems, key=lambda p: (p[0], rank[p[1]]), default=None)
