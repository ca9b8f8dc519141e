"""Streaming writers: rows in, bytes out in chunks of about CHUNK_BYTES, whatever the number of rows.

    for chunk in write_table(ExportFormat.CSV, layout, rows):
        sink.write(chunk)

Nothing is held but the current chunk, so memory stays flat however large the organisation is.
"""

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Final

from runtime.lifecycle.encoding import BASE64, NULL, csv_header, json_bytes
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


class _Times:
    """ISO 8601 text of timestamps, remembering the last one: rows written together share their time."""

    __slots__ = ("_at", "_text")

    def __init__(self) -> None:
        self._at: object = None
        self._text = ""

    def text(self, at: datetime) -> str:
        if at != self._at:
            self._at, self._text = at, at.astimezone(UTC).isoformat(timespec="microseconds")
        return self._text


def _quoted(text: str) -> str:
    """RFC 4180: a field with a comma, a double quote, CR or LF goes in double quotes, quotes doubled."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text


def _csv(layout: TableLayout, rows: Iterable[Row]) -> Iterator[bytes]:
    """CSV lines built directly (the csv module's writer costs more than the rest of the row together);
    tests/runtime/lifecycle read every file back with the strict csv reader."""
    names = layout.column_names
    kinds = [c.kind for c in layout.columns]
    width = len(kinds)
    times = _Times()
    parts: list[str] = [",".join(_quoted(h) for h in csv_header(layout)) + "\r\n"]
    size = 0
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{layout.name}: a row has {len(row)} values, not {width}")
        fields: list[str] = []
        marks: list[str] = []
        for index, value in enumerate(row):
            kind = kinds[index]
            if value is None:
                fields.append("")
                marks.append(f"{names[index]}:{NULL}")
            elif kind is ColumnKind.BYTES:
                assert isinstance(value, bytes)
                try:
                    text = value.decode("utf-8")
                    if "\x00" in text:
                        raise UnicodeDecodeError("utf-8", value, 0, 1, "NUL")
                    fields.append(_quoted(text))
                except UnicodeDecodeError:
                    fields.append(base64.b64encode(value).decode("ascii"))
                    marks.append(f"{names[index]}:{BASE64}")
            elif kind is ColumnKind.TIMESTAMP:
                assert isinstance(value, datetime)
                fields.append(times.text(value))
            else:
                fields.append(str(value))
        fields.append(";".join(marks))
        line = ",".join(fields) + "\r\n"
        parts.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode("utf-8")
            parts.clear()
            size = 0
    if parts:
        yield "".join(parts).encode("utf-8")


def _json(layout: TableLayout, rows: Iterable[Row], *, lines: bool) -> Iterator[bytes]:
    """JSON: one array of row objects, one row per line. JSON Lines: one row object per line."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    columns: list[tuple[str, ColumnKind]] = [(c.name, c.kind) for c in layout.columns]
    parts: list[str] = [] if lines else ["["]
    size = 0
    first = True
    times = _Times()
    for row in rows:
        document: dict[str, object] = {}
        for (name, kind), value in zip(columns, row, strict=True):
            if value is None or kind is ColumnKind.UUID:
                document[name] = None if value is None else str(value)
            elif kind is ColumnKind.BYTES:
                document[name] = json_bytes(value)  # type: ignore[arg-type]
            else:
                document[name] = times.text(value)  # type: ignore[arg-type]
        text = encode(document)
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
