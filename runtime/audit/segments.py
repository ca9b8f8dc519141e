"""Verify one segment of the SHA-256-linked chain (P14), from the bytes PostgreSQL sends. Pure.

A segment runs from a signed checkpoint (its hash anchors the first link) to the next one (whose hash the last
link must equal), so segments are independent: `audit verify` checks them in parallel worker processes
(runtime/db/audit_verify.py). Each row arrives as a COPY text line

    hash-hex TAB prev-hash-hex TAB leaf[n] NEWLINE          (leaf[n]: runtime/audit/chain.py)

so the link check is one SHA-256 over a slice of the line: nothing is decoded into Python objects. COPY escapes
backslashes, tabs and newlines inside values; no event the runtime writes has any, but a line that does is
unescaped first, so the check stays exact whatever the database holds.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from runtime.audit.chain import LINK_V2_LABEL
from runtime.audit.verify import Problem

_HEX = 64
_PREV = slice(_HEX + 1, 2 * _HEX + 1)
_LEAF_START = 2 * _HEX + 2
_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


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


def _unescape_copy(line: bytes) -> bytes:
    """A COPY text line with its escapes resolved (tabs between columns stay as they are)."""
    columns = line.split(b"\t")
    return b"\t".join(_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), c) for c in columns)


def _claim_problem(claim: Claim) -> Problem:
    return Problem.BAD_CHECKPOINT if claim.is_checkpoint else Problem.REWOUND_HEAD


def check_segment(segment: Segment, lines: Iterable[bytes]) -> SegmentReport:
    """The first bad position of the segment, or a clean report. `lines` are in position order."""
    sha256, label = hashlib.sha256, LINK_V2_LABEL
    claims = {c.seq: c for c in segment.claims}
    prev = segment.anchor.hex().encode()
    expected, checked, last = segment.first, 0, segment.last
    for raw in lines:
        line = raw[:-1] if raw[-1:] == b"\n" else raw
        if b"\\" in line:
            line = _unescape_copy(line)
        end = line.find(b"\t", _LEAF_START)
        try:
            seq = int(line[_LEAF_START:end])
        except ValueError:
            return SegmentReport(checked, Problem.EDITED, expected)
        if seq > last:
            break
        checked += 1
        if seq != expected:
            return SegmentReport(checked, Problem.MISSING if seq > expected else Problem.BROKEN_LINK, expected)
        if line[_PREV] != prev:
            return SegmentReport(checked, Problem.BROKEN_LINK, seq)
        digest = line[:_HEX]
        if sha256(label + line[_HEX + 1:]).hexdigest().encode() != digest:
            return SegmentReport(checked, Problem.EDITED, seq)
        prev = digest
        expected += 1
        claim = claims.get(seq)
        if claim is not None and claim.hash.hex().encode() != digest:
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
