"""Where export files go and are read back from: the interfaces, and the local-directory implementation.

The S3 implementation (SSE-KMS, multipart, presigned URLs) is runtime.lifecycle.s3. A destination is
`s3://bucket/prefix` or a directory; an export lands under `<destination>/<owner id>/<export id>/`, so
erasure can find every export of an owner by its id alone.
"""

import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from runtime.errors import ExportDestinationError

READ_CHUNK: Final = 1024 * 1024


class ExportSink(Protocol):
    """Writes the files of ONE export."""

    @property
    def location(self) -> str:
        """Where the export is, as `export verify` takes it: `s3://bucket/key-prefix/` or a directory."""
        ...

    def put(self, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        """Store `chunks` as the file `name`, streaming; a failure leaves no partial file behind."""
        ...


class ExportFiles(Protocol):
    """Reads the files of ONE export back (export verify)."""

    @property
    def location(self) -> str: ...

    def names(self) -> set[str]: ...

    def read(self, name: str) -> Iterator[bytes]:
        """The file's bytes in chunks; `ExportDestinationError` if it is missing."""
        ...


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def child(self, *parts: str) -> "S3Location":
        return S3Location(self.bucket, self.prefix + "".join(f"{p}/" for p in parts))


Destination = S3Location | Path


def parse_destination(text: str) -> Destination:
    """`s3://bucket[/prefix]` or a directory path."""
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not bucket or not _bucket_name_ok(bucket):
            raise ExportDestinationError(f"{text!r} names no valid bucket; use s3://bucket/prefix")
        prefix = prefix.strip("/")
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ExportDestinationError(f"{text!r} has an empty, '.' or '..' path segment; use a plain prefix")
        return S3Location(bucket, f"{prefix}/" if prefix else "")
    if "://" in text:
        raise ExportDestinationError(f"{text!r}: only s3:// URLs and directories are export destinations")
    return Path(text)


def export_location(destination: Destination, owner_id: uuid.UUID, export_id: uuid.UUID) -> Destination:
    if isinstance(destination, S3Location):
        return destination.child(str(owner_id), str(export_id))
    return destination / str(owner_id) / str(export_id)


def _bucket_name_ok(name: str) -> bool:
    return 3 <= len(name) <= 63 and all(c.islower() or c.isdigit() or c in ".-" for c in name)


class DirectorySink:
    """An export in a new directory (for development, self-hosted operators, and the task's /tmp)."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and any(directory.iterdir()):
            raise ExportDestinationError(f"{directory} is not empty; export into a new or empty directory")
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ExportDestinationError(f"cannot create {directory}: {exc.strerror}") from None
        self._directory = directory

    @property
    def location(self) -> str:
        return str(self._directory)

    def put(self, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        path = self._directory / name
        partial = self._directory / f".{name}.partial"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            partial.replace(path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ExportDestinationError(f"cannot write {path}: {exc.strerror}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


class DirectoryFiles:
    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise ExportDestinationError(f"{directory} is not a directory holding an export")
        self._directory = directory

    @property
    def location(self) -> str:
        return str(self._directory)

    def names(self) -> set[str]:
        return {p.name for p in self._directory.iterdir() if p.is_file()}

    def read(self, name: str) -> Iterator[bytes]:
        path = self._directory / name
        try:
            handle = path.open("rb")
        except OSError:
            raise ExportDestinationError(f"{path} is missing or unreadable") from None
        with handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk
