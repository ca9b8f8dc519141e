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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.audit.chain import GENESIS, Checkpoint
from runtime.audit.verify import ChainHead, Span, VerifyReport, valid_checkpoints, verify_span

__all__ = ["Span", "WindowVerification", "span_for", "valid_checkpoints", "verify_span"]


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
