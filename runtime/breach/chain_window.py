"""Verify the audit chain over a breach window before computing impact from it (P12, P14). Pure.

The whole ledger may hold billions of events; a breach needs the part that covers its window. The part
is bounded by keyed checkpoints, which an attacker cannot forge or move (their MAC covers position,
hash and time), never by event times, which an attacker could edit to slide events out of the window:

- from the last valid checkpoint taken BEFORE the window starts (its hash anchors the first link; no
  such checkpoint: from position 1, anchored at the genesis hash),
- to the first valid checkpoint taken AT OR AFTER the window ends (no such checkpoint: to the head).

Every event between is checked, whatever its stored time: position, link and MAC, and the hashes the
checkpoints and the head claim. Deleting, editing, inserting or reordering an event of the window, or
truncating the ledger inside it, is reported with the first bad position, as `audit verify` does.
"""

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.audit.chain import GENESIS, ChainEntry, ChainKey, Checkpoint, checkpoint_mac, entry_hash
from runtime.audit.verify import ChainHead, Problem, VerifyReport


@dataclass(frozen=True, slots=True)
class Span:
    """Positions first..last (inclusive) to verify; `anchor` is the hash of position first - 1."""

    first: int
    last: int
    anchor: bytes

    @property
    def empty(self) -> bool:
        return self.last < self.first


@dataclass(frozen=True, slots=True)
class WindowVerification:
    span: Span
    report: VerifyReport
    bad_checkpoints: tuple[int, ...] = ()  # positions of checkpoints whose MAC failed (anywhere in the ledger)

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.bad_checkpoints

    def describe(self) -> str:
        where = f"positions {self.span.first}..{self.span.last}"
        if self.span.empty:
            where = "an empty ledger"
        text = self.report.describe().replace("audit chain", f"audit chain over the window ({where})", 1)
        if self.bad_checkpoints and self.report.ok:
            shown = ", ".join(map(str, self.bad_checkpoints[:5]))
            text = (f"audit chain over the window ({where}) verified, but checkpoint(s) at {shown} were forged or "
                    "changed: someone with database access tampered with the ledger")
        return text

    def as_document(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "first": self.span.first,
            "last": self.span.last,
            "checked": self.report.checked,
            "problem": self.report.problem.value if self.report.problem else None,
            "position": self.report.position,
            "bad_checkpoints": list(self.bad_checkpoints),
            "description": self.describe(),
        }


def valid_checkpoints(key: ChainKey, checkpoints: Iterable[Checkpoint]) -> tuple[list[Checkpoint], list[int]]:
    good: list[Checkpoint] = []
    bad: list[int] = []
    for cp in checkpoints:
        if hmac.compare_digest(checkpoint_mac(key, seq=cp.seq, at=cp.at, chain_hash=cp.hash), cp.mac):
            good.append(cp)
        else:
            bad.append(cp.seq)
    return good, bad


def span_for(checkpoints: Sequence[Checkpoint], head: ChainHead, start: datetime, end: datetime) -> Span:
    """The positions to verify for the window [start, end), from MAC-checked `checkpoints`."""
    # A checkpoint past the head is kept: it proves the ledger was truncated (verify reports where).
    before = [cp for cp in checkpoints if cp.at < start]
    after = [cp for cp in checkpoints if cp.at >= end]
    anchor = max(before, key=lambda cp: cp.seq, default=None)
    closing = min(after, key=lambda cp: cp.seq, default=None)
    first = anchor.seq + 1 if anchor else 1
    last = closing.seq if closing else head.seq
    return Span(first, max(last, first - 1), anchor.hash if anchor else GENESIS)


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
