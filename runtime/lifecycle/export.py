"""The portability export (P13), independent of where rows come from and where files go.

    result = write_export(source, sink, ExportFormat.JSONL, export_id=..., owner_id=..., clock=...)
    report = verify_export(files)

One file per SENSITIVE table (every record of the organisation and everything derived from it, decrypted),
then manifest.json. Rows stream from the source through the writer into the sink; nothing holds more than
a chunk or an upload part at a time.
"""

import hmac
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from runtime.errors import ExportDestinationError, InvalidManifestError
from runtime.lifecycle.layout import TableLayout
from runtime.lifecycle.manifest import (
    MANIFEST_NAME,
    FileEntry,
    HashedStream,
    Manifest,
    build_manifest,
    manifest_digest,
    parse_manifest,
)
from runtime.lifecycle.storage import ExportFiles, ExportSink
from runtime.lifecycle.writers import ExportFormat, Row, file_name, write_table

MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024
_CREATED_AT_INDEX: Final = 1  # layouts put id, then created_at, first


class ExportSource(Protocol):
    """The decrypted rows of one owner, table by table (runtime.lifecycle.pg_export reads Postgres)."""

    def layouts(self) -> Sequence[TableLayout]: ...

    def rows(self, layout: TableLayout) -> Iterator[Row]: ...


@dataclass(frozen=True, slots=True)
class ExportResult:
    export_id: uuid.UUID
    owner_id: uuid.UUID
    location: str
    manifest: Manifest = field(repr=False)
    manifest_sha256: str

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.manifest.files)

    @property
    def files(self) -> tuple[str, ...]:
        return (*(f.file for f in self.manifest.files), MANIFEST_NAME)


class _Tracker:
    """Counts rows and keeps the earliest and latest created_at as they stream past."""

    def __init__(self) -> None:
        self.rows = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    def table(self, rows: Iterable[Row]) -> Iterator[Row]:
        count = 0
        first, last = self.first, self.last
        for row in rows:
            count += 1
            at = row[_CREATED_AT_INDEX]
            if isinstance(at, datetime):
                if first is None or at < first:
                    first = at
                if last is None or at > last:
                    last = at
            yield row
        self.rows = count
        self.first, self.last = first, last


def write_export(
    source: ExportSource,
    sink: ExportSink,
    fmt: ExportFormat,
    *,
    export_id: uuid.UUID,
    owner_id: uuid.UUID,
    clock: Callable[[], datetime],
) -> ExportResult:
    tracker = _Tracker()
    layouts = tuple(source.layouts())
    files: list[FileEntry] = []
    for layout in layouts:
        name = file_name(layout, fmt)
        hashed = HashedStream()
        sink.put(name, hashed.wrap(write_table(fmt, layout, tracker.table(source.rows(layout)))),
                 content_type=fmt.media_type)
        files.append(FileEntry(layout.name, name, tracker.rows, hashed.size, hashed.hexdigest()))
    manifest = build_manifest(
        export_id=export_id, owner_id=owner_id, created_at=clock(), file_format=fmt, layouts=layouts, files=files,
        first_created_at=tracker.first, last_created_at=tracker.last,
    )
    data = manifest.to_bytes()
    sink.put(MANIFEST_NAME, [data], content_type="application/json")
    return ExportResult(export_id, owner_id, sink.location, manifest, manifest_digest(data))


# --- export verify -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportVerifyReport:
    location: str
    manifest_sha256: str | None
    checked: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.ok:
            return (f"export OK: {len(self.checked)} files match manifest.json (sha256 {self.manifest_sha256}) at "
                    f"{self.location}")
        return f"export at {self.location} FAILED verification:\n- " + "\n- ".join(self.problems)


def verify_export(files: ExportFiles, *, expected_manifest_sha256: str | None = None) -> ExportVerifyReport:
    """Check every file against the manifest (SHA-256 and size), and no file missing or added. With
    `expected_manifest_sha256` (recorded with the export request), a replaced manifest is caught too."""
    data = _read_manifest(files)
    digest = manifest_digest(data)
    problems: list[str] = []
    if expected_manifest_sha256 is not None and not hmac.compare_digest(digest, expected_manifest_sha256.lower()):
        problems.append(f"{MANIFEST_NAME} is not the one written by the export (sha256 {digest} differs from the "
                        "recorded one): it was replaced")
    manifest = parse_manifest(data)
    present = files.names()
    checked: list[str] = []
    for entry in manifest.files:
        if entry.file not in present:
            problems.append(f"{entry.file} is missing")
            continue
        hashed = HashedStream()
        for _ in hashed.wrap(files.read(entry.file)):
            pass
        checked.append(entry.file)
        if hashed.size != entry.bytes:
            problems.append(f"{entry.file} has {hashed.size} bytes, the manifest says {entry.bytes}: it was changed")
        elif not hmac.compare_digest(hashed.hexdigest(), entry.sha256):
            problems.append(f"{entry.file} does not match its sha256 in the manifest: it was changed")
    extra = present - {e.file for e in manifest.files} - {MANIFEST_NAME}
    problems.extend(f"{name} is not in the manifest: it was added" for name in sorted(extra))
    return ExportVerifyReport(files.location, digest, tuple(checked), tuple(problems))


def _read_manifest(files: ExportFiles) -> bytes:
    if MANIFEST_NAME not in files.names():
        raise InvalidManifestError(f"no {MANIFEST_NAME} at {files.location}: give the export's own location")
    data = bytearray()
    try:
        for chunk in files.read(MANIFEST_NAME):
            data += chunk
            if len(data) > MAX_MANIFEST_BYTES:
                raise InvalidManifestError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    except ExportDestinationError:
        raise InvalidManifestError(f"{MANIFEST_NAME} at {files.location} cannot be read") from None
    return bytes(data)
