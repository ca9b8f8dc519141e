"""How exported values are written so that every value round-trips exactly, whatever its bytes (P13).

SENSITIVE values are bytes. They are written as:

JSON and JSON Lines
    a string            when the bytes are valid UTF-8 (what customers usually send: text of any script,
                        newlines, quotes, NUL and other control characters included, JSON-escaped);
    {"base64": "..."}   when they are not (binary), RFC 4648 base64 with padding;
    null                when there is no value.

CSV (RFC 4180: comma-separated, CRLF line ends, fields with a comma, quote, CR or LF in double quotes,
quotes doubled; UTF-8 without BOM; one header row)
    the text itself     when the bytes are valid UTF-8 without NUL (which many CSV tools cannot hold);
    base64              otherwise;
    an empty field      for no value.
    The last column, `_encoding`, lists every field of the row that is not plain text, as `column:base64`
    or `column:null`, separated by `;`; it is empty for a row of plain text. So an empty string and no
    value, or text and base64, are never confused.

Ids are canonical UUID text; times are ISO 8601 with microseconds and the UTC offset (+00:00).
"""

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from runtime.errors import ExportError
from runtime.lifecycle.layout import ColumnKind, TableLayout

ENCODING_COLUMN: Final = "_encoding"
BASE64: Final = "base64"
NULL: Final = "null"

JsonValue = str | dict[str, str] | None


def json_bytes(value: bytes | None) -> JsonValue:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {BASE64: base64.b64encode(value).decode("ascii")}


# --- reading back (export verify, tests, and anyone importing an export) ----------------------------------


def parse_json_value(value: object, kind: ColumnKind, where: str) -> object:
    if value is None:
        return None
    if kind is ColumnKind.BYTES:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {BASE64} and isinstance(value[BASE64], str):
            return _b64(value[BASE64], where)
        raise ExportError(f"{where}: a value must be a string, {{\"base64\": ...}} or null")
    if not isinstance(value, str):
        raise ExportError(f"{where}: expected a string")
    return _scalar(value, kind, where)


def parse_json_row(layout: TableLayout, row: Mapping[str, object]) -> dict[str, object]:
    if set(row) != set(layout.column_names):
        raise ExportError(f"{layout.name}: a row does not have the columns {list(layout.column_names)}")
    return {c.name: parse_json_value(row[c.name], c.kind, f"{layout.name}.{c.name}") for c in layout.columns}


def parse_csv_row(layout: TableLayout, fields: Sequence[str]) -> dict[str, object]:
    names = layout.column_names
    if len(fields) != len(names) + 1:
        raise ExportError(f"{layout.name}: a CSV record has {len(fields)} fields, not {len(names) + 1}")
    marks: dict[str, str] = {}
    for mark in filter(None, fields[-1].split(";")):
        marked, _, how = mark.partition(":")
        if marked not in names or how not in (BASE64, NULL):
            raise ExportError(f"{layout.name}: bad {ENCODING_COLUMN} mark {mark!r}")
        marks[marked] = how
    row: dict[str, object] = {}
    for column, text in zip(layout.columns, fields, strict=False):
        where = f"{layout.name}.{column.name}"
        mark_of = marks.get(column.name)
        if mark_of == NULL:
            row[column.name] = None
        elif column.kind is ColumnKind.BYTES:
            row[column.name] = _b64(text, where) if mark_of == BASE64 else text.encode("utf-8")
        else:
            row[column.name] = _scalar(text, column.kind, where)
    return row


def csv_header(layout: TableLayout) -> list[str]:
    return [*layout.column_names, ENCODING_COLUMN]


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ExportError(f"{where}: not valid base64") from None


def _scalar(text: str, kind: ColumnKind, where: str) -> object:
    try:
        return datetime.fromisoformat(text) if kind is ColumnKind.TIMESTAMP else uuid.UUID(text)
    except ValueError:
        raise ExportError(f"{where}: {kind.value} expected") from None
