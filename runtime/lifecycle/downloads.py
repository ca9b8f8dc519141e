"""The owner's download of a completed export (P13): short-lived presigned URLs, one per file and the manifest.

The data service signs them with its task role's credentials; whoever follows a URL acts with that role's
s3:GetObject on the export and kms:Decrypt on the exports key (through S3). So:
- a URL lives `expiry_seconds` (default 15 minutes, at most an hour) and never beyond the signing credentials'
  own expiry (a URL outliving them would fail half-way through a download, and the cap keeps the promise
  that the URL's stated expiry is true);
- only an export the database says is complete, under the configured exports bucket and the owner's own
  prefix, is signed; the manifest is read and checked against the digest recorded with the request first,
  so the file list comes from a manifest the job wrote, never from a listing of the bucket;
- the caller records one audit event per URL handed out (P14), in the transaction that returns them.

Errors keep S3's error code only (never its message, which could quote a key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from runtime.aws_protocols import S3Client
from runtime.errors import ExportDestinationError, ExportError
from runtime.lifecycle.manifest import MANIFEST_NAME, manifest_digest, parse_manifest
from runtime.lifecycle.requests import ExportRequest
from runtime.lifecycle.s3 import S3ExportFiles, S3ExportSink
from runtime.lifecycle.storage import S3Location, parse_destination

DEFAULT_DOWNLOAD_URL_EXPIRY_SECONDS: Final = 900  # 15 minutes
MAX_DOWNLOAD_URL_EXPIRY_SECONDS: Final = 3600
# A URL must leave the downloader some time: with less than this left on the credentials, nothing is signed.
MIN_DOWNLOAD_URL_SECONDS: Final = 60
# Signed URLs end this long before the credentials do (clock skew between the task and S3).
CREDENTIAL_MARGIN: Final = timedelta(seconds=30)

CredentialExpiry = Callable[[], datetime | None]


class DownloadUnavailableError(ExportError):
    """The export exists but cannot be downloaded (not complete, not in the bucket, credentials too short)."""


def client_credential_expiry(client: Any) -> CredentialExpiry:
    """When the credentials a boto3 client signs with expire: None for long-lived keys. Refreshable
    credentials (the ECS task role's) are refreshed first when near their end, as signing would."""

    def expiry() -> datetime | None:
        signer = getattr(client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None
        refresh = getattr(credentials, "get_frozen_credentials", None)
        if callable(refresh):
            refresh()
        value = getattr(credentials, "_expiry_time", None)
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return None

    return expiry


@dataclass(frozen=True, slots=True)
class FileDownload:
    name: str
    table: str | None
    rows: int | None
    bytes: int | None
    sha256: str | None
    url: str

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "table": self.table, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha256, "url": self.url}


@dataclass(frozen=True, slots=True)
class ExportDownload:
    export_id: uuid.UUID
    expires_at: datetime
    expires_in_seconds: int
    manifest: FileDownload
    files: tuple[FileDownload, ...]

    @property
    def url_count(self) -> int:
        return 1 + len(self.files)

    def public(self) -> dict[str, Any]:
        return {
            "export_id": str(self.export_id), "expires_at": self.expires_at.astimezone(UTC).isoformat(),
            "expires_in_seconds": self.expires_in_seconds, "manifest": self.manifest.public(),
            "files": [f.public() for f in self.files],
        }


class ExportDownloads:
    def __init__(
        self,
        client: S3Client,
        *,
        bucket: str,
        expiry_seconds: int = DEFAULT_DOWNLOAD_URL_EXPIRY_SECONDS,
        credential_expiry: CredentialExpiry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not MIN_DOWNLOAD_URL_SECONDS <= expiry_seconds <= MAX_DOWNLOAD_URL_EXPIRY_SECONDS:
            raise ValueError(f"download URLs live {MIN_DOWNLOAD_URL_SECONDS} to {MAX_DOWNLOAD_URL_EXPIRY_SECONDS} s")
        self._client = client
        self._bucket = bucket
        self._expiry = expiry_seconds
        self._credential_expiry = credential_expiry or client_credential_expiry(client)
        self._clock = clock

    def lifetime(self) -> int:
        """Seconds the next URLs live: the configured expiry, cut to the signing credentials' remaining life."""
        seconds = self._expiry
        ends = self._credential_expiry()
        if ends is not None:
            left = int((ends - CREDENTIAL_MARGIN - self._clock()).total_seconds())
            seconds = min(seconds, left)
        if seconds < MIN_DOWNLOAD_URL_SECONDS:
            raise DownloadUnavailableError("the service's signing credentials expire too soon; try again in a minute")
        return seconds

    def _location(self, request: ExportRequest) -> S3Location:
        if request.status != "complete" or request.manifest_sha256 is None:
            raise DownloadUnavailableError(f"export {request.id} is {request.status}, not complete; follow its status")
        where = parse_destination(request.location) if request.location else None
        if not isinstance(where, S3Location):
            raise DownloadUnavailableError(f"export {request.id} was written outside the exports bucket (a "
                                           "directory of the machine that ran it); ask the operator for it")
        if where.bucket != self._bucket or f"/{request.owner_id}/" not in "/" + where.prefix:
            raise DownloadUnavailableError(f"export {request.id} is not under the organisation's prefix of the "
                                           "exports bucket; ask the operator for it")
        return where

    def issue(self, request: ExportRequest) -> ExportDownload:
        """Presigned URLs for the manifest and every file it lists (no audit here: the caller records it)."""
        where = self._location(request)
        seconds = self.lifetime()
        data = b"".join(S3ExportFiles(self._client, where).read(MANIFEST_NAME))
        if manifest_digest(data) != request.manifest_sha256:
            raise ExportDestinationError(f"the manifest of export {request.id} differs from the one recorded; it "
                                         "was changed after the export: ask the operator to check the bucket")
        manifest = parse_manifest(data)
        signer = S3ExportSink(self._client, where, kms_key_id="unused-for-signing")
        issued_at = self._clock()
        files = tuple(
            FileDownload(f.file, f.table, f.rows, f.bytes, f.sha256, signer.presign(f.file, seconds))
            for f in manifest.files
        )
        manifest_url = FileDownload(MANIFEST_NAME, None, None, len(data), request.manifest_sha256,
                                    signer.presign(MANIFEST_NAME, seconds))
        return ExportDownload(request.id, issued_at + timedelta(seconds=seconds), seconds, manifest_url, files)


__all__ = [
    "DEFAULT_DOWNLOAD_URL_EXPIRY_SECONDS",
    "MAX_DOWNLOAD_URL_EXPIRY_SECONDS",
    "DownloadUnavailableError",
    "ExportDownload",
    "ExportDownloads",
    "FileDownload",
    "client_credential_expiry",
]
