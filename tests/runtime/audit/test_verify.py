"""verify_chain finds each kind of tampering and reports the FIRST bad position (P14). Pure: no database."""

import dataclasses
import pickle
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runtime.audit import ChainEntry, ChainHead, ChainKey, Problem, TrustedCheckpoint, verify_chain
from runtime.audit.chain import GENESIS, link_hash, make_checkpoint
from runtime.errors import AuditKeyError

KEY = ChainKey(b"k" * 32)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build_chain(n: int, key: ChainKey = KEY) -> list[ChainEntry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        at, actor, owner = T0 + timedelta(seconds=seq), uuid.uuid4(), uuid.uuid4()
        fields = {"action": "read", "table": "prompts", "row_count": 1, "row_ids": [str(uuid.uuid4())],
                  "request_id": f"r{seq}"}
        digest = link_hash(key, prev_hash=prev, seq=seq, at=at, event="data.accessed", actor_id=actor,
                           owner_id=owner, fields=fields)
        entries.append(ChainEntry(seq, at, "data.accessed", actor, owner, fields, prev, digest))
        prev = digest
    return entries


def head_of(entries: list[ChainEntry]) -> ChainHead:
    return ChainHead(entries[-1].seq, entries[-1].hash)


def test_verify_intact_chain_ok() -> None:
    entries = build_chain(10)
    report = verify_chain(KEY, entries, head=head_of(entries))
    assert report.ok and report.checked == 10 and report.last_seq == 10
    assert "OK" in report.describe()


def test_verify_empty_chain_ok() -> None:
    assert verify_chain(KEY, [], head=ChainHead(0, GENESIS)).ok


@pytest.mark.parametrize(
    "change",
    [
        {"fields": {"action": "write", "table": "prompts", "row_count": 1, "row_ids": [], "request_id": "r4"}},
        {"owner_id": uuid.UUID(int=4)},
        {"actor_id": uuid.UUID(int=4)},
        {"at": T0},
        {"event": "data.other"},
        {"hash": b"\x00" * 32},
    ],
)
def test_verify_edited_event_reported_at_its_position(change: dict[str, object]) -> None:
    entries = build_chain(8)
    head = head_of(entries)
    entries[3] = dataclasses.replace(entries[3], **change)  # type: ignore[arg-type]
    report = verify_chain(KEY, entries, head=head)
    assert (report.problem, report.position) in ((Problem.EDITED, 4), (Problem.BROKEN_LINK, 5))
    assert report.position == 4 or change.keys() == {"hash"}


def test_verify_deleted_event_reported_missing() -> None:
    entries = build_chain(8)
    head = head_of(entries)
    del entries[4]
    report = verify_chain(KEY, entries, head=head)
    assert (report.problem, report.position) == (Problem.MISSING, 5)


def test_verify_deleted_then_renumbered_reported_broken_link() -> None:
    entries = build_chain(8)
    head = head_of(entries)
    del entries[4]
    entries = [dataclasses.replace(e, seq=i) for i, e in enumerate(entries, start=1)]
    report = verify_chain(KEY, entries, head=head)
    assert (report.problem, report.position) == (Problem.BROKEN_LINK, 5)


def test_verify_reordered_events_reported_at_first_swap() -> None:
    entries = build_chain(8)
    head = head_of(entries)
    a, b = entries[2], entries[3]
    entries[2], entries[3] = dataclasses.replace(b, seq=3), dataclasses.replace(a, seq=4)
    report = verify_chain(KEY, entries, head=head)
    assert (report.problem, report.position) == (Problem.BROKEN_LINK, 3)


def test_verify_inserted_forged_event_reported() -> None:
    entries = build_chain(6)
    head = head_of(entries)
    forged = dataclasses.replace(entries[2], seq=3, prev_hash=entries[1].hash, hash=b"\x11" * 32,
                                 owner_id=uuid.uuid4())
    tampered = [*entries[:2], forged, *(dataclasses.replace(e, seq=e.seq + 1) for e in entries[2:])]
    report = verify_chain(KEY, tampered, head=head)
    assert (report.problem, report.position) == (Problem.EDITED, 3)


def test_verify_event_appended_without_the_key_reported() -> None:
    entries = build_chain(5)
    forged = dataclasses.replace(entries[-1], seq=6, prev_hash=entries[-1].hash, hash=b"\x22" * 32)
    report = verify_chain(KEY, [*entries, forged], head=ChainHead(6, forged.hash))
    assert (report.problem, report.position) == (Problem.EDITED, 6)


def test_verify_truncated_chain_caught_by_the_head() -> None:
    entries = build_chain(8)
    report = verify_chain(KEY, entries[:6], head=head_of(entries))
    assert (report.problem, report.position) == (Problem.TRUNCATED, 7)
    assert "truncated" in report.describe()


def test_verify_truncated_chain_caught_by_a_checkpoint_when_the_head_was_rewound() -> None:
    entries = build_chain(8)
    checkpoint = make_checkpoint(KEY, seq=7, at=T0, chain_hash=entries[6].hash)
    report = verify_chain(KEY, entries[:5], head=head_of(entries[:5]), checkpoints=[checkpoint])
    assert (report.problem, report.position) == (Problem.TRUNCATED, 6)


def test_verify_truncated_chain_caught_by_a_trusted_checkpoint_alone() -> None:
    entries = build_chain(8)
    trusted = TrustedCheckpoint.parse(f"7:{entries[6].hash.hex()}")
    report = verify_chain(KEY, entries[:5], head=head_of(entries[:5]), trusted=[trusted])
    assert (report.problem, report.position) == (Problem.TRUNCATED, 6)


def test_verify_forged_checkpoint_reported() -> None:
    entries = build_chain(5)
    forged = dataclasses.replace(make_checkpoint(KEY, seq=3, at=T0, chain_hash=entries[2].hash), mac=b"\x00" * 32)
    report = verify_chain(KEY, entries, head=head_of(entries), checkpoints=[forged])
    assert (report.problem, report.position) == (Problem.BAD_CHECKPOINT, 3)


def test_verify_chain_rewritten_with_the_key_caught_by_a_trusted_checkpoint() -> None:
    """Someone holding the key can rebuild the chain after an edit; a checkpoint kept outside cannot lie."""
    original = build_chain(6)
    trusted = TrustedCheckpoint(4, original[3].hash)
    rewritten = build_chain(6)  # same positions, different content, valid MACs
    report = verify_chain(KEY, rewritten, head=head_of(rewritten), trusted=[trusted])
    assert (report.problem, report.position) == (Problem.BAD_CHECKPOINT, 4)


def test_verify_wrong_key_fails_at_the_first_event() -> None:
    entries = build_chain(3)
    report = verify_chain(ChainKey(b"x" * 32), entries, head=head_of(entries))
    assert (report.problem, report.position) == (Problem.EDITED, 1)


def test_chain_key_short_refused_hidden_and_not_picklable() -> None:
    with pytest.raises(AuditKeyError):
        ChainKey(b"short")
    assert "k" * 32 not in repr(KEY)
    with pytest.raises(TypeError):
        pickle.dumps(KEY)


@pytest.mark.parametrize("token", ["7", "x:ab", "0:" + "00" * 32, "3:" + "00" * 31, "3:zz"])
def test_trusted_checkpoint_malformed_token_refused(token: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        TrustedCheckpoint.parse(token)
