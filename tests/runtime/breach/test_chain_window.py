"""Verifying the chain over a breach window (pure): bounded by keyed checkpoints, every kind of tampering in
the window is caught at its first bad position, and moving an event's time does not hide it."""

from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runtime.audit.chain import GENESIS, ChainEntry, ChainKey, Checkpoint, link_hash, make_checkpoint
from runtime.audit.verify import ChainHead, Problem
from runtime.breach.chain_window import span_for, valid_checkpoints, verify_span

KEY = ChainKey(os.urandom(32))
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _chain(n: int, every: int = 10) -> tuple[list[ChainEntry], list[Checkpoint]]:
    """n events one minute apart, a checkpoint every `every` positions."""
    entries, checkpoints, prev = [], [], GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(minutes=seq)
        fields = {"action": "read", "table": "prompts", "row_count": 1, "row_ids": [str(uuid.uuid4())],
                  "request_id": "req-1"}
        actor, owner = uuid.uuid4(), uuid.uuid4()
        digest = link_hash(KEY, prev_hash=prev, seq=seq, at=at, event="data.accessed", actor_id=actor,
                           owner_id=owner, fields=fields)
        entries.append(ChainEntry(seq, at, "data.accessed", actor, owner, fields, prev, digest))
        if seq % every == 0:
            checkpoints.append(make_checkpoint(KEY, seq=seq, at=at, chain_hash=digest))
        prev = digest
    return entries, checkpoints


def _verify(entries: list[ChainEntry], checkpoints: list[Checkpoint], start_minute: int, end_minute: int):  # type: ignore[no-untyped-def]
    head = ChainHead(entries[-1].seq, entries[-1].hash) if entries else ChainHead(0, GENESIS)
    good, _ = valid_checkpoints(KEY, checkpoints)
    span = span_for(good, head, T0 + timedelta(minutes=start_minute), T0 + timedelta(minutes=end_minute))
    claims = [(cp.seq, cp.hash) for cp in good] + [(head.seq, head.hash)]
    inside = [e for e in entries if span.first <= e.seq <= span.last]
    return span, verify_span(KEY, span, inside, claims=claims)


def test_chain_window_is_bounded_by_checkpoints_around_it() -> None:
    entries, checkpoints = _chain(100)
    span, report = _verify(entries, checkpoints, 35, 52)
    assert (span.first, span.last) == (31, 60)  # after checkpoint 30 (minute 30 < 35), to checkpoint 60
    assert report.ok and report.checked == 30


def test_chain_window_without_checkpoints_runs_from_genesis_to_head() -> None:
    entries, _ = _chain(25)
    span, report = _verify(entries, [], 5, 7)
    assert (span.first, span.last, span.anchor) == (1, 25, GENESIS)
    assert report.ok


@pytest.mark.parametrize(
    ("tamper", "problem", "position"),
    [
        ("edit", Problem.EDITED, 40),
        ("delete", Problem.MISSING, 40),
        ("swap", Problem.BROKEN_LINK, 40),
        ("truncate", Problem.TRUNCATED, 56),
        ("move-time", Problem.EDITED, 40),
    ],
)
def test_chain_window_reports_tampering_at_first_bad_position(tamper: str, problem: Problem, position: int) -> None:
    entries, checkpoints = _chain(100)
    i = 39  # position 40, inside the window of minutes 35..52
    if tamper == "edit":
        entries[i] = dataclasses.replace(entries[i], owner_id=uuid.uuid4())
    elif tamper == "delete":
        del entries[i]
    elif tamper == "swap":  # reorder: two events exchange everything but their positions
        a, b = entries[i], entries[i + 1]
        entries[i], entries[i + 1] = dataclasses.replace(b, seq=a.seq), dataclasses.replace(a, seq=b.seq)
    elif tamper == "truncate":
        entries = entries[:55]  # and the head row rewritten to match, as a careful attacker would
    elif tamper == "move-time":  # slide the event out of the window: its MAC covers the time
        entries[i] = dataclasses.replace(entries[i], at=T0 + timedelta(days=30))
    if tamper == "truncate":
        good, _ = valid_checkpoints(KEY, checkpoints)
        head = ChainHead(55, entries[-1].hash)
        span = span_for(good, head, T0 + timedelta(minutes=35), T0 + timedelta(minutes=52))
        claims = [(cp.seq, cp.hash) for cp in good] + [(head.seq, head.hash)]
        report = verify_span(KEY, span, [e for e in entries if e.seq >= span.first], claims=claims)
    else:
        _, report = _verify(entries, checkpoints, 35, 52)
    assert (report.problem, report.position) == (problem, position)


def test_chain_window_catches_a_forged_checkpoint() -> None:
    _, checkpoints = _chain(100)
    forged = dataclasses.replace(checkpoints[3], hash=os.urandom(32))  # position 40
    good, bad = valid_checkpoints(KEY, [*checkpoints[:3], forged, *checkpoints[4:]])
    assert bad == [40] and forged not in good


def test_chain_window_catches_an_edited_anchor() -> None:
    entries, checkpoints = _chain(100)
    entries[30] = dataclasses.replace(entries[30], prev_hash=os.urandom(32))  # position 31 does not link to 30
    _, report = _verify(entries, checkpoints, 35, 52)
    assert (report.problem, report.position) == (Problem.BROKEN_LINK, 31)


def test_chain_window_empty_ledger_is_ok() -> None:
    span, report = _verify([], [], 1, 2)
    assert span.empty and report.ok
