"""Streaming writers: rows in, bytes out in chunks of about CHUNK_BYTES, whatever the number of rows.

    for chunk in write_table(ExportFormat.CSV, layout, rows):
        sink.write(chunk)

Nothing is held but the current chunk, so memory stays flat however large the organisation is.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from enum import Enum
from typing import Final

from runtime.lifecycle.encoding import csv_cell, csv_header, json_scalar
from runtime.lifecycle.layout import ColumnKind, TableLayout

CHUNK_BYTES: Final = 256 * 1024
Row = Sequence[object]  # values in the layout's column order


class ExportFormat(Enum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"

    @property
    def extension(self) -> str:
        return self.value

    @property
    def media_type(self) -> str:
        return {"csv": "text/csv; charset=utf-8; header=present", "json": "application/json",
                "jsonl": "application/jsonl"}[self.value]


def file_name(layout: TableLayout, fmt: ExportFormat) -> str:
    return f"{layout.name}.{fmt.extension}"


def write_table(fmt: ExportFormat, layout: TableLayout, rows: Iterable[Row]) -> Iterator[bytes]:
    if fmt is ExportFormat.CSV:
        return _csv(layout, rows)
    return _json(layout, rows, lines=fmt is ExportFormat.JSONL)


def _csv(layout: TableLayout, rows: Iterable[Row]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL, strict=True)
    writer.writerow(csv_header(layout))
    columns = [(c.name, c.kind) for c in layout.columns]
    for row in rows:
        fields: list[str] = []
        marks: list[str] = []
        for (name, kind), value in zip(columns, row, strict=True):
            text, mark = csv_cell(value, kind)
            fields.append(text)
            if mark is not None:
                marks.append(f"{name}:{mark}")
        fields.append(";".join(marks))
        writer.writerow(fields)
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _json(layout: TableLayout, rows: Iterable[Row], *, lines: bool) -> Iterator[bytes]:
    """JSON: one array of row objects, one row per line. JSON Lines: one row object per line."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    columns: list[tuple[str, ColumnKind]] = [(c.name, c.kind) for c in layout.columns]
    parts: list[str] = [] if lines else ["["]
    size = 0
    first = True
    for row in rows:
        text = encode({name: json_scalar(value, kind) for (name, kind), value in zip(columns, row, strict=True)})
        if lines:
            parts.append(text + "\n")
        else:
            parts.append(("\n" if first else ",\n") + text)
        first = False
        size += len(text) + 2
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode("utf-8")
            parts.clear()
            size = 0
    if not lines:
        parts.append("]\n" if first else "\n]\n")
    if parts:
        yield "".join(parts).encode("utf-8")
