"""Verify the audit chain and report the FIRST bad position (P14). Pure: it reads entries from any iterable.

What each kind of tampering looks like:
- edited (any column of an event changed)        -> the event's MAC does not match          EDITED
- deleted from the middle                         -> a position is missing                    MISSING
- reordered, or an event inserted with a new id   -> prev_hash does not link to the previous  BROKEN_LINK
  (an inserted event also fails its MAC, and positions after it shift)
- truncated (last events deleted)                 -> the chain ends before the head or a
                                                     checkpoint                               TRUNCATED
- a checkpoint forged or changed                  -> its MAC does not match                   BAD_CHECKPOINT
Positions start at 1. A chain with no problem reports `ok`.
"""

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from runtime.audit.chain import GENESIS, ChainEntry, ChainKey, Checkpoint, TrustedCheckpoint, checkpoint_mac, entry_hash


class Problem(Enum):
    EDITED = "edited"
    MISSING = "missing"
    BROKEN_LINK = "broken-link"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad-checkpoint"
    # Signed checkpoints (runtime/audit/published.py):
    DELETED_CHECKPOINT = "deleted-checkpoint"
    CADENCE_GAP = "cadence-gap"
    REWOUND_HEAD = "rewound-head"


_EXPLAIN = {
    Problem.EDITED: "its content does not match its MAC: it was edited, or forged without the key",
    Problem.MISSING: "it is missing: an event was deleted",
    Problem.BROKEN_LINK: "it does not link to the event before it: events were reordered, inserted or deleted",
    Problem.TRUNCATED: "the chain ends before it, though the head or a checkpoint says it existed: the ledger "
    "was truncated",
    Problem.BAD_CHECKPOINT: "the checkpoint for this position was forged or changed, or disagrees with the chain",
    Problem.DELETED_CHECKPOINT: "the signed checkpoint of this position was deleted (from the database, or from "
    "the bucket: the next checkpoint names it)",
    Problem.CADENCE_GAP: "no signed checkpoint covers it within the promised cadence: checkpoints were withheld "
    "or deleted",
    Problem.REWOUND_HEAD: "the chain head was moved back before it, though signed checkpoints or sequenced events "
    "say the chain reached it",
}


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: int  # events read
    last_seq: int  # last good position (0 for an empty chain)
    problem: Problem | None = None
    position: int | None = None  # first bad position

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        if self.problem is None:
            return f"audit chain OK: {self.checked} events, positions 1..{self.last_seq}"
        return f"audit chain BROKEN at position {self.position} ({self.problem.value}): {_EXPLAIN[self.problem]}"


def verify_chain(
    key: ChainKey,
    entries: Iterable[ChainEntry],
    *,
    head: ChainHead | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    trusted: Iterable[TrustedCheckpoint] = (),
) -> VerifyReport:
    """Walk the chain in position order (`entries` sorted by seq, as the ledger reads them) and return
    the first bad position, considering the chain itself, its checkpoints, trusted checkpoints and the head.
    """
    problems: list[tuple[int, Problem]] = []
    # (position, hash) pairs the chain must contain: MAC-checked checkpoints, trusted ones, the head.
    claims: list[tuple[int, bytes]] = []
    for cp in checkpoints:
        if hmac.compare_digest(checkpoint_mac(key, seq=cp.seq, at=cp.at, chain_hash=cp.hash), cp.mac):
            claims.append((cp.seq, cp.hash))
        else:
            problems.append((cp.seq, Problem.BAD_CHECKPOINT))
    claims.extend((t.seq, t.hash) for t in trusted)
    if head is not None and head.seq > 0:
        claims.append((head.seq, head.hash))
    wanted = {seq for seq, _ in claims}

    prev, last, checked = GENESIS, 0, 0
    seen: dict[int, bytes] = {}
    chain_broken = False
    for entry in entries:
        checked += 1
        expected_seq = last + 1
        if entry.seq != expected_seq:
            problems.append((expected_seq, Problem.MISSING if entry.seq > expected_seq else Problem.BROKEN_LINK))
        elif not hmac.compare_digest(entry.prev_hash, prev):
            problems.append((entry.seq, Problem.BROKEN_LINK))
        elif not hmac.compare_digest(entry_hash(key, entry), entry.hash):
            problems.append((entry.seq, Problem.EDITED))
        else:
            prev, last = entry.hash, entry.seq
            if last in wanted:
                seen[last] = prev
            continue
        chain_broken = True
        break

    for seq, digest in claims:
        if seq <= last:
            if not hmac.compare_digest(seen[seq], digest):
                problems.append((seq, Problem.BAD_CHECKPOINT))
        elif not chain_broken:
            problems.append((last + 1, Problem.TRUNCATED))
    if not problems:
        return VerifyReport(checked, last)
    # The chain's own finding wins a tie: it is the more specific one.
    order = {Problem.MISSING: 0, Problem.BROKEN_LINK: 0, Problem.EDITED: 0, Problem.TRUNCATED: 1,
             Problem.BAD_CHECKPOINT: 2}
    position, problem = min(problems, key=lambda p: (p[0], order[p[1]]))
    return VerifyReport(checked, min(last, position - 1), problem, position)


# --- A span of the HMAC-linked chain (positions up to the cut-over): breach windows, `audit verify` ---


@dataclass(frozen=True, slots=True)
class Span:
    """Positions first..last (inclusive) to verify; `anchor` is the hash of position first - 1."""

    first: int
    last: int
    anchor: bytes

    @property
    def empty(self) -> bool:
        return self.last < self.first


def valid_checkpoints(key: ChainKey, checkpoints: Iterable[Checkpoint]) -> tuple[list[Checkpoint], list[int]]:
    good: list[Checkpoint] = []
    bad: list[int] = []
    for cp in checkpoints:
        if hmac.compare_digest(checkpoint_mac(key, seq=cp.seq, at=cp.at, chain_hash=cp.hash), cp.mac):
            good.append(cp)
        else:
            bad.append(cp.seq)
    return good, bad


def verify_span(
    key: ChainKey,
    span: Span,
    entries: Iterable[ChainEntry],
    *,
    claims: Iterable[tuple[int, bytes]] = (),
) -> VerifyReport:
    """Check `entries` (positions span.first..span.last in order) against the anchor and the claimed
    (position, hash) pairs of valid checkpoints and the head."""
    wanted = {seq: digest for seq, digest in claims if span.first - 1 <= seq <= span.last}
    prev, last, checked = span.anchor, span.first - 1, 0
    if last in wanted and not hmac.compare_digest(wanted[last], prev):
        return VerifyReport(0, last, Problem.BAD_CHECKPOINT, last)
    for entry in entries:
        if entry.seq > span.last:
            break
        checked += 1
        expected = last + 1
        problem: Problem | None = None
        if entry.seq != expected:
            problem = Problem.MISSING if entry.seq > expected else Problem.BROKEN_LINK
        elif not hmac.compare_digest(entry.prev_hash, prev):
            problem = Problem.BROKEN_LINK
        elif not hmac.compare_digest(entry_hash(key, entry), entry.hash):
            problem = Problem.EDITED
        if problem is not None:
            return VerifyReport(checked, last, problem, expected)
        prev, last = entry.hash, entry.seq
        claimed = wanted.get(last)
        if claimed is not None and not hmac.compare_digest(claimed, prev):
            return VerifyReport(checked, last - 1, Problem.BAD_CHECKPOINT, last)
    if last < span.last:
        return VerifyReport(checked, last, Problem.TRUNCATED, last + 1)
    return VerifyReport(checked, last)
