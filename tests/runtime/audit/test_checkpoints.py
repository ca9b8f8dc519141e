"""Signed checkpoints, what a set of them proves, and the segment check on COPY lines (P14). Pure."""

from datetime import UTC, datetime, timedelta

import pytest

from runtime.audit.chain import GENESIS, link_v2
from runtime.audit.checkpoints import (
    CheckpointFormatError,
    SignedCheckpoint,
    checkpoint_body,
    parse_checkpoint,
    parse_document,
)
from runtime.audit.published import Cadence, CheckpointRow, analyse
from runtime.audit.segments import Claim, Segment, check_segment, plan_segments
from runtime.audit.verify import ChainHead, Problem
from runtime.signing import LocalReceiptSigner

SIGNER = LocalReceiptSigner.generate()
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _signed(seq: int, previous: SignedCheckpoint | None, *, every: int = 10, environment: str = "test",
            signer: LocalReceiptSigner = SIGNER) -> SignedCheckpoint:
    body = checkpoint_body(environment=environment, seq=seq, chain_hash=bytes([seq % 256]) * 32, at=NOW, cutover=0,
                           every=every, seconds=60, previous=previous)
    return parse_checkpoint(body, signer.sign(body), signer.key_id)


def _chain(*seqs: int, every: int = 10) -> list[SignedCheckpoint]:
    made: list[SignedCheckpoint] = []
    for seq in seqs:
        made.append(_signed(seq, made[-1] if made else None, every=every))
    return made


def _analyse(checkpoints: list[SignedCheckpoint], head: int, *, bucket: list[SignedCheckpoint] | None = None,
             max_sequenced: int | None = None) -> list[tuple[int, Problem]]:
    stored = {cp.seq: cp for cp in (bucket if bucket is not None else checkpoints)}
    return list(analyse(
        public_key=SIGNER.public_key().key, environment="test",
        rows=[CheckpointRow(cp.seq, cp.hash, cp.body, cp.signature, cp.key_id) for cp in checkpoints],
        bucket_positions=list(stored), fetch=lambda seq: stored[seq].document(),
        head=ChainHead(head, bytes(32)), cutover=0, max_sequenced=head if max_sequenced is None else max_sequenced,
        tail_sequenced_at=None, now=NOW, cadence=Cadence(10, 60),
    ).problems)


def test_checkpoint_document_round_trips_and_verifies() -> None:
    cp = _signed(5, None)
    again = parse_document(cp.document())
    assert again == cp and again.verifies(SIGNER.public_key().key)
    assert not again.verifies(LocalReceiptSigner.generate().public_key().key)


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"format": "x"}',
                                  _signed(5, None).body.replace(b",", b", ", 1)])
def test_checkpoint_malformed_or_non_canonical_body_refused(body: bytes) -> None:
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(body, b"sig")


def test_published_clean_chain_of_checkpoints_has_no_problem() -> None:
    assert _analyse(_chain(10, 20, 25), head=28) == []


def test_published_checkpoints_further_apart_than_promised_are_a_cadence_gap() -> None:
    assert _analyse(_chain(10, 25), head=25) == [(21, Problem.CADENCE_GAP)]


def test_published_head_past_the_cadence_is_a_gap() -> None:
    assert _analyse(_chain(10, 20), head=31) == [(31, Problem.CADENCE_GAP)]


def test_published_checkpoint_missing_from_both_copies_is_named_by_the_next() -> None:
    chain = _chain(10, 20, 30)
    assert (20, Problem.DELETED_CHECKPOINT) in _analyse([chain[0], chain[2]], head=30,
                                                        bucket=[chain[0], chain[2]])


def test_published_checkpoint_of_another_environment_or_key_refused() -> None:
    other_env = _signed(10, None, environment="prod")
    other_key = _signed(10, None, signer=LocalReceiptSigner.generate())
    for forged in (other_env, other_key):
        assert _analyse([forged], head=10, bucket=[]) == [(10, Problem.BAD_CHECKPOINT)]


def test_published_head_behind_sequenced_events_is_rewound() -> None:
    assert _analyse(_chain(10), head=10, max_sequenced=12) == [(11, Problem.REWOUND_HEAD)]


def _framed(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def _rows(count: int) -> tuple[list[bytes], bytes]:
    """COPY BINARY rows of (hash, prev_hash, seq, at, event, actor_id, owner_id, fields), linked."""
    prev, rows = GENESIS, []
    for seq in range(1, count + 1):
        columns = b"".join(_framed(v) for v in (
            (123456789 + seq).to_bytes(8, "big"), b"data.accessed", bytes(16), bytes(range(16)),
            b'\x01{"table": "prompts"}'))
        digest = link_v2(prev, seq, columns)
        rows.append(b"\x00\x08" + _framed(digest) + _framed(prev) + _framed(seq.to_bytes(8, "big")) + columns)
        prev = digest
    return rows, prev


def test_segment_check_hashes_the_rows_as_copy_binary_sends_them() -> None:
    rows, last = _rows(5)
    assert check_segment(Segment(1, 5, GENESIS, (Claim(5, last),)), rows).problem is None
    tampered = [*rows[:2], rows[2].replace(b"prompts", b"promptz"), *rows[3:]]
    report = check_segment(Segment(1, 5, GENESIS, (Claim(5, last),)), tampered)
    assert (report.problem, report.position) == (Problem.EDITED, 3)
    nulled = [*rows[:3], rows[3][:2] + b"\xff\xff\xff\xff" + rows[3][38:], rows[4]]  # hash NULL: length -1
    report = check_segment(Segment(1, 5, GENESIS, (Claim(5, last),)), nulled)
    assert (report.problem, report.position) == (Problem.EDITED, 4)


def test_plan_segments_covers_every_position_once() -> None:
    claims = [Claim(s, bytes(32)) for s in range(10, 101, 10)]
    segments = plan_segments((0, GENESIS), claims, parts=3)
    covered = [p for s in segments for p in range(s.first, s.last + 1)]
    assert covered == list(range(1, 101)) and len(segments) == 3
    assert all(s.claims[-1].seq == s.last for s in segments)


def test_published_tail_unsigned_for_longer_than_promised_is_a_gap() -> None:
    chain = _chain(10)
    stale = analyse(
        public_key=SIGNER.public_key().key, environment="test",
        rows=[CheckpointRow(cp.seq, cp.hash, cp.body, cp.signature, cp.key_id) for cp in chain],
        bucket_positions=[10], fetch=lambda seq: chain[0].document(), head=ChainHead(12, bytes(32)), cutover=0,
        max_sequenced=12, tail_sequenced_at=NOW - timedelta(hours=1), now=NOW, cadence=Cadence(10, 60),
    )
    assert stale.problems == ((11, Problem.CADENCE_GAP),)
