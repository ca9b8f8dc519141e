"""The export's manifest.json: what is in the export and how to check it (P13).

    {"format": "platform-export", "format_version": 1, "export_id", "owner_id", "created_at",
     "file_format": "csv" | "json" | "jsonl", "value_encoding": {...},
     "time_range": {"first_created_at", "last_created_at"} | null,
     "tables": [{"name", "description", "file", "rows", "bytes", "sha256",
                 "columns": [{"name", "kind", "class"}]}]}

Every file's SHA-256 and size are in it; `export verify` recomputes them. The manifest's own SHA-256 is
recorded with the export request, so a manifest replaced together with a file is caught as well.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from runtime.errors import InvalidManifestError
from runtime.lifecycle.layout import TableLayout
from runtime.lifecycle.writers import ExportFormat

MANIFEST_NAME: Final = "manifest.json"
FORMAT: Final = "platform-export"
FORMAT_VERSION: Final = 1
VALUE_ENCODING: Final = {
    "bytes": "JSON: a string when the value is UTF-8 text, {\"base64\": ...} otherwise, null for none. "
    "CSV: the text, or base64 when the value is not UTF-8 or holds NUL; the _encoding column lists "
    "column:base64 and column:null marks (separated by ;) for every field that is not plain text",
    "uuid": "canonical text, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e",
    "timestamp": "ISO 8601 with microseconds and UTC offset",
    "csv": "RFC 4180, UTF-8 without BOM, CRLF, header row",
}


@dataclass(frozen=True, slots=True)
class FileEntry:
    table: str
    file: str
    rows: int
    bytes: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class Manifest:
    export_id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime
    file_format: ExportFormat
    files: tuple[FileEntry, ...]
    document: Mapping[str, Any]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.document, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def build_manifest(
    *,
    export_id: uuid.UUID,
    owner_id: uuid.UUID,
    created_at: datetime,
    file_format: ExportFormat,
    layouts: Iterable[TableLayout],
    files: Iterable[FileEntry],
    first_created_at: datetime | None,
    last_created_at: datetime | None,
) -> Manifest:
    by_table = {f.table: f for f in files}
    tables: list[dict[str, Any]] = []
    for layout in layouts:
        entry = by_table[layout.name]
        tables.append({
            "name": layout.name,
            "description": layout.description,
            "file": entry.file,
            "rows": entry.rows,
            "bytes": entry.bytes,
            "sha256": entry.sha256,
            "columns": [{"name": c.name, "kind": c.kind.value, "class": c.data_class.value} for c in layout.columns],
        })
    time_range = None
    if first_created_at is not None and last_created_at is not None:
        time_range = {"first_created_at": _time(first_created_at), "last_created_at": _time(last_created_at)}
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "export_id": str(export_id),
        "owner_id": str(owner_id),
        "created_at": _time(created_at),
        "file_format": file_format.value,
        "value_encoding": VALUE_ENCODING,
        "time_range": time_range,
        "tables": tables,
    }
    return Manifest(export_id, owner_id, created_at, file_format, tuple(by_table[str(t["name"])] for t in tables),
                    document)


def parse_manifest(data: bytes) -> Manifest:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidManifestError(f"{MANIFEST_NAME} is not valid UTF-8 JSON; the export is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidManifestError(f"{MANIFEST_NAME} is not a platform export manifest")
    if document.get("format_version") != FORMAT_VERSION:
        raise InvalidManifestError(
            f"{MANIFEST_NAME} has format_version {document.get('format_version')!r}; this runtime reads "
            f"{FORMAT_VERSION}: verify it with the runtime version that wrote it"
        )
    try:
        files = tuple(
            FileEntry(str(t["name"]), _file_name(t["file"]), _count(t["rows"]), _count(t["bytes"]),
                      _digest(t["sha256"]))
            for t in document["tables"]
        )
        manifest = Manifest(uuid.UUID(document["export_id"]), uuid.UUID(document["owner_id"]),
                            datetime.fromisoformat(document["created_at"]), ExportFormat(document["file_format"]),
                            files, document)
    except (KeyError, TypeError, ValueError):
        raise InvalidManifestError(f"{MANIFEST_NAME} lacks a field or has one of the wrong type") from None
    if len({f.file for f in files}) != len(files):
        raise InvalidManifestError(f"{MANIFEST_NAME} names a file twice")
    return manifest


def manifest_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HashedStream:
    """Passes chunks through, keeping their SHA-256 and total size."""

    __slots__ = ("_digest", "size")

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._digest.update(chunk)
            self.size += len(chunk)
            yield chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _file_name(value: object) -> str:
    # Flat names only: a manifest can never point verify (or a downloader) outside the export.
    if not isinstance(value, str) or not value or "/" in value or "\\" in value or value.startswith("."):
        raise ValueError("bad file name")
    return value


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("bad count")
    return value


def _digest(value: object) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("bad sha256")
    return value
