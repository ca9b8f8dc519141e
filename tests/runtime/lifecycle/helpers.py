"""Reading an export back, the way a customer's tool would, to compare it with what was written."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable

from runtime.lifecycle.encoding import csv_header, parse_csv_row, parse_json_row
from runtime.lifecycle.layout import TableLayout
from runtime.lifecycle.writers import ExportFormat


def read_rows(fmt: ExportFormat, layout: TableLayout, data: bytes) -> dict[uuid.UUID, dict[str, object]]:
    """Rows by id, values decoded per the documented encoding; strict parsers only."""
    text = data.decode("utf-8")  # every format is UTF-8
    rows: list[dict[str, object]] = []
    if fmt is ExportFormat.CSV:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        assert records[0] == csv_header(layout)
        rows = [parse_csv_row(layout, r) for r in records[1:]]
    elif fmt is ExportFormat.JSON:
        document = json.loads(text)
        assert isinstance(document, list)
        rows = [parse_json_row(layout, r) for r in document]
    else:
        assert text == "" or text.endswith("\n")
        # JSON Lines ends lines with \n only: U+2028 and friends may appear raw inside strings
        rows = [parse_json_row(layout, json.loads(line)) for line in text.split("\n") if line]
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows), "an id appears twice"
    return by_id  # type: ignore[return-value]


def concat(chunks: Iterable[bytes]) -> bytes:
    return b"".join(chunks)
