"""Lifecycle jobs: portability export (P13) and verifiable erasure on request that reaches backups (P10).

Pure logic: layout (what is exported), encoding and writers (how values and files are written), manifest,
export (write and verify, over any source and storage), receipt (format, signature,
old receipts' MAC), plan (erasure order).
Adapters: pg_export, erasure and requests (Postgres through runtime.db), storage (directories) and s3
(SSE-KMS, multipart, presigned URLs). Clients and connections are injected; nothing is built at import.
"""

from runtime.lifecycle.export import ExportResult, ExportVerifyReport, verify_export, write_export
from runtime.lifecycle.plan import ErasureState, deletion_order
from runtime.lifecycle.receipt import (
    ErasureReceipt,
    ReceiptKey,
    ReceiptKeys,
    complete_everywhere_by,
    verify_receipt,
)
from runtime.lifecycle.requests import ErasureStatus, ExportRequest, LifecycleRequests, is_erasure_refusal
from runtime.lifecycle.writers import ExportFormat

__all__ = [
    "ErasureReceipt",
    "ErasureState",
    "ErasureStatus",
    "ExportFormat",
    "ExportRequest",
    "ExportResult",
    "ExportVerifyReport",
    "LifecycleRequests",
    "ReceiptKey",
    "ReceiptKeys",
    "complete_everywhere_by",
    "deletion_order",
    "is_erasure_refusal",
    "verify_export",
    "verify_receipt",
    "write_export",
]
