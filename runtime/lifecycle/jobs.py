"""The export job (P13), end to end: request bookkeeping, audit, snapshot, files, manifest, download URLs.

    outcome = run_export(ExportJob(...), principal, ExportFormat.CSV, destination)
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from runtime.aws_protocols import S3Client
from runtime.db.connect import ConnectionSource
from runtime.db.records import FieldCipher
from runtime.db.session import Database, OwnerScope
from runtime.errors import ExportDestinationError
from runtime.lifecycle.export import ExportResult, write_export
from runtime.lifecycle.pg_export import PostgresExportSource, owner_snapshot, record_export
from runtime.lifecycle.requests import ExportRequest, LifecycleRequests, utc_now
from runtime.lifecycle.s3 import S3ExportSink
from runtime.lifecycle.storage import Destination, DirectorySink, ExportSink, S3Location, export_location
from runtime.lifecycle.writers import ExportFormat


@dataclass(frozen=True)
class ExportJob:
    database: Database  # jobs role: requests and the audit events
    snapshot_connections: ConnectionSource  # jobs role: the long read-only snapshot (a connection of its own)
    cipher: FieldCipher
    s3: S3Client | None = None
    exports_kms_key_id: str | None = None
    url_expiry_seconds: int = 86_400
    clock: Callable[[], datetime] = field(default=utc_now)


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    request: ExportRequest
    result: ExportResult
    download_urls: dict[str, str]  # file -> presigned URL (S3 only)


def _sink(job: ExportJob, where: Destination) -> ExportSink:
    if isinstance(where, S3Location):
        if job.s3 is None:
            raise ExportDestinationError("an s3:// destination needs an S3 client")
        return S3ExportSink(job.s3, where, kms_key_id=job.exports_kms_key_id or "")
    return DirectorySink(where)


def run_export(
    job: ExportJob,
    principal: OwnerScope,
    fmt: ExportFormat,
    destination: Destination,
    *,
    request_id: uuid.UUID | None = None,
    contract_ended_at: datetime | None = None,
) -> ExportOutcome:
    requests = LifecycleRequests(job.database, clock=job.clock)
    request = requests.begin_export(principal, fmt, request_id=request_id, contract_ended_at=contract_ended_at)
    where = export_location(destination, principal.owner_id, request.id)
    # Recorded before any file is written, so an erasure finds (and deletes) this export whatever happens next.
    requests.export_running(principal, request.id, where.url if isinstance(where, S3Location) else str(where))
    try:
        sink = _sink(job, where)
        with owner_snapshot(job.snapshot_connections, principal.owner_id) as conn:
            source = PostgresExportSource(conn, job.cipher, principal.owner_id)
            record_export(job.database, principal, source.counts())
            result = write_export(source, sink, fmt, export_id=request.id, owner_id=principal.owner_id,
                                  clock=job.clock)
    except BaseException as exc:
        requests.export_failed(principal, request.id, type(exc).__name__)
        raise
    requests.export_complete(principal, request.id, manifest_sha256=result.manifest_sha256, rows=result.rows)
    urls: dict[str, str] = {}
    if isinstance(sink, S3ExportSink):
        urls = {name: sink.presign(name, job.url_expiry_seconds) for name in result.files}
    done = requests.export_request(principal, request.id)
    assert done is not None
    return ExportOutcome(done, result, urls)
