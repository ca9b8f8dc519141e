"""Verify one segment of the SHA-256-linked chain (P14), from the bytes PostgreSQL sends. Pure.

A segment runs from a signed checkpoint (its hash anchors the first link) to the next one (whose hash the last
link must equal), so segments are independent: `audit verify` checks them in parallel worker processes
(runtime/db/audit_verify.py). Each event arrives as a COPY BINARY row of (hash, prev_hash, seq, at, event,
actor_id, owner_id, fields):

    field count (2) | 32 (4) hash (32) | 32 (4) prev_hash (32) | 8 (4) seq (8) | [at] [event] [actor] [owner] [fields]

and everything from prev_hash's length on is what the link hashes (runtime/audit/chain.py), so a link check is one
SHA-256 over a slice of the row: nothing is decoded into Python objects but the position.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from runtime.audit.chain import LINK_V2_LABEL
from runtime.audit.verify import Problem

_FRAME: Final = b"\x00\x08\x00\x00\x00\x20"  # 8 fields; the hash's length: 32
_HASH: Final = slice(6, 38)
_LINKED: Final = 38  # the link covers the row from here: [prev_hash] [seq] [at] ...
_PREV_FRAME: Final = slice(38, 42)
_PREV: Final = slice(42, 74)
_SEQ_FRAME: Final = slice(74, 78)
_SEQ: Final = slice(78, 86)
_LEN32, _LEN8 = b"\x00\x00\x00\x20", b"\x00\x00\x00\x08"


@dataclass(frozen=True, slots=True)
class Claim:
    """A (position, hash) the chain must contain: a signed checkpoint's, or the head's."""

    seq: int
    hash: bytes
    is_checkpoint: bool = True


@dataclass(frozen=True, slots=True)
class Segment:
    """Positions first..last (inclusive), from `anchor` (the hash of position first - 1) to the claims within,
    the last of which is at `last`."""

    first: int
    last: int
    anchor: bytes
    claims: tuple[Claim, ...]


@dataclass(frozen=True, slots=True)
class SegmentReport:
    checked: int
    problem: Problem | None = None
    position: int | None = None


def _claim_problem(claim: Claim) -> Problem:
    return Problem.BAD_CHECKPOINT if claim.is_checkpoint else Problem.REWOUND_HEAD


def check_segment(segment: Segment, rows: Iterable[bytes]) -> SegmentReport:
    """The first bad position of the segment, or a clean report. `rows` are in position order."""
    labelled = hashlib.sha256(LINK_V2_LABEL)  # copied per row: the label is hashed once
    claims = {c.seq: c for c in segment.claims}
    prev, expected, checked, last = segment.anchor, segment.first, 0, segment.last
    for row in rows:
        # A row whose hash, previous hash or position is not 32, 32 and 8 bytes (a NULL is length -1) was not
        # written by the sequencer.
        if row[:6] != _FRAME or row[_PREV_FRAME] != _LEN32 or row[_SEQ_FRAME] != _LEN8:
            return SegmentReport(checked + 1, Problem.EDITED, expected)
        seq = int.from_bytes(row[_SEQ], "big", signed=True)
        if seq > last:
            break
        checked += 1
        if seq != expected:
            return SegmentReport(checked, Problem.MISSING if seq > expected else Problem.BROKEN_LINK, expected)
        if row[_PREV] != prev:
            return SegmentReport(checked, Problem.BROKEN_LINK, seq)
        digest = row[_HASH]
        link = labelled.copy()
        link.update(memoryview(row)[_LINKED:])
        if link.digest() != digest:
            return SegmentReport(checked, Problem.EDITED, seq)
        prev = digest
        expected += 1
        claim = claims.get(seq)
        if claim is not None and claim.hash != digest:
            return SegmentReport(checked, _claim_problem(claim), seq)
    if expected <= last:
        return SegmentReport(checked, Problem.TRUNCATED, expected)
    return SegmentReport(checked)


def plan_segments(anchor: tuple[int, bytes], claims: list[Claim], *, parts: int) -> list[Segment]:
    """Split positions anchor+1 .. claims[-1] into about `parts` segments of whole claim intervals of similar
    size (`claims` ascending, each segment ending at one), so worker processes share the work evenly."""
    if not claims:
        return []
    start_seq, start_hash = anchor
    target = max(1, -(-(claims[-1].seq - start_seq) // max(parts, 1)))
    segments: list[Segment] = []
    inside: list[Claim] = []
    for i, claim in enumerate(claims):
        inside.append(claim)
        if claim.seq - start_seq >= target or i == len(claims) - 1:
            segments.append(Segment(start_seq + 1, claim.seq, start_hash, tuple(inside)))
            start_seq, start_hash, inside = claim.seq, claim.hash, []
    return segments
