"""An in-memory export source: rows made on the fly, so a test can stream millions without a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from runtime.db.schema import RECORD_TABLES
from runtime.lifecycle.layout import TableLayout, table_layout
from runtime.lifecycle.writers import Row

PROMPTS = table_layout(RECORD_TABLES["prompts"])  # id, created_at, name, body
START = datetime(2026, 1, 1, tzinfo=UTC)


class GeneratedSource:
    def __init__(self, rows: int, value_bytes: int = 200) -> None:
        self.count = rows
        self.value = (b"x" * (value_bytes - 1)) + b"\n"

    def layouts(self) -> Sequence[TableLayout]:
        return (PROMPTS,)

    def rows(self, layout: TableLayout) -> Iterator[Row]:
        for i in range(self.count):
            yield (uuid.UUID(int=i + 1), START + timedelta(microseconds=i), b"prompt %d" % i, self.value)


class NullSink:
    location = "nowhere"

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def put(self, name: str, chunks: object, *, content_type: str) -> None:
        total = 0
        for chunk in chunks:  # type: ignore[attr-defined]
            total += len(chunk)
        self.sizes[name] = total
