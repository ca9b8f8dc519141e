"""Exports stream: peak memory does not grow with the size of the organisation (P13)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.db import OwnerScope
from runtime.lifecycle import ExportFormat, write_export
from runtime.lifecycle.jobs import run_export
from runtime.lifecycle.storage import DirectorySink
from tests.runtime.lifecycle.conftest import Stack
from tests.runtime.lifecycle.fakes import START, GeneratedSource, NullSink

SLACK = 512 * 1024  # allocator noise


def _peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_peak_memory_flat_from_10k_to_80k_rows(fmt: ExportFormat) -> None:
    def export(rows: int) -> Callable[[], object]:
        return lambda: write_export(GeneratedSource(rows), NullSink(), fmt, export_id=uuid.uuid4(),
                                    owner_id=uuid.uuid4(), clock=lambda: START)

    small, large = _peak(export(10_000)), _peak(export(80_000))
    assert large < small * 1.25 + SLACK, (small, large)  # eight times the rows, same memory


@pytest.mark.postgres
def test_database_export_peak_memory_flat(lc_stack: Stack, tmp_path: Path) -> None:
    """The real path: server-side cursor, decryption, writer, files. 5,000 vs 20,000 rows (both more than two
    cursor batches, which is what the reader holds at most)."""
    owners = []
    for rows in (5_000, 20_000):
        principal = OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-memory")
        with lc_stack.app.owner_transaction(principal) as tx:
            lc_stack.records.insert(tx, "organisations", [{"name": b"big"}])
        for _ in range(0, rows, 5_000):
            with lc_stack.app.owner_transaction(principal) as tx:
                lc_stack.records.insert(tx, "prompts", [{"body": bytes(256)} for _ in range(5_000)])
        owners.append(principal)
    peaks = []
    job = lc_stack.export_job()
    for principal in owners:
        peaks.append(_peak(lambda p=principal: run_export(job, p, ExportFormat.JSONL, tmp_path)))  # type: ignore[misc]
    small, large = peaks
    assert large < small * 1.25 + SLACK, (small, large)


def test_directory_sink_writes_nothing_partial_on_failure(tmp_path: Path) -> None:
    def failing() -> object:
        yield b"some bytes"
        raise RuntimeError("source broke")

    sink = DirectorySink(tmp_path / "x")
    with pytest.raises(RuntimeError):
        sink.put("prompts.csv", failing(), content_type="text/csv")  # type: ignore[arg-type]
    assert list((tmp_path / "x").iterdir()) == []
