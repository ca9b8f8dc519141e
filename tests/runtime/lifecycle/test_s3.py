"""Exports in S3 (moto): SSE-KMS with the exports key, multipart for large files, presigned URLs, verify,
and erasure's deletion of every version of an owner's exports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from runtime.errors import ExportDestinationError
from runtime.lifecycle import ExportFormat, verify_export, write_export
from runtime.lifecycle.s3 import MIN_PART_BYTES, S3ExportFiles, S3ExportObjects, S3ExportSink, delete_prefix
from runtime.lifecycle.storage import S3Location, export_location
from tests.runtime.lifecycle.fakes import START, GeneratedSource

REGION = "eu-west-1"
BUCKET = "app-prod-exports-123456789012-eu-west-1"


@pytest.fixture
def aws() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        key = boto3.client("kms", region_name=REGION).create_key(Description="exports")["KeyMetadata"]["Arn"]
        yield s3, key


def _export(s3: Any, key: str, rows: int, owner: uuid.UUID | None = None) -> tuple[S3ExportSink, Any]:
    owner = owner or uuid.uuid4()
    where = export_location(S3Location(BUCKET, "exports/"), owner, uuid.uuid4())
    assert isinstance(where, S3Location)
    sink = S3ExportSink(s3, where, kms_key_id=key, part_bytes=MIN_PART_BYTES)
    result = write_export(GeneratedSource(rows, value_bytes=1024), sink, ExportFormat.CSV, export_id=uuid.uuid4(),
                          owner_id=owner, clock=lambda: START)
    return sink, result


def test_s3_export_large_file_multipart_with_sse_kms(aws: tuple[Any, str]) -> None:
    s3, key = aws
    sink, result = _export(s3, key, rows=12_000)  # ~12 MiB of CSV: three parts of 5 MiB
    assert sink.multipart_files == ["prompts.csv"]
    for name in result.files:
        head = s3.head_object(Bucket=BUCKET, Key=sink.key(name))
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
    assert s3.head_object(Bucket=BUCKET, Key=sink.key("prompts.csv"))["ContentLength"] > 2 * MIN_PART_BYTES
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert verify_export(S3ExportFiles(s3, S3Location(BUCKET, sink.key("")))).ok


def test_s3_presigned_url_has_the_configured_expiry(aws: tuple[Any, str]) -> None:
    s3, key = aws
    sink, _ = _export(s3, key, rows=10)
    url = sink.presign("manifest.json", 3600)
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["3600"] and "X-Amz-Signature" in query
    assert urlparse(url).path.endswith(sink.key("manifest.json"))


def test_s3_verify_detects_a_changed_object(aws: tuple[Any, str]) -> None:
    s3, key = aws
    sink, _ = _export(s3, key, rows=50)
    files = S3ExportFiles(s3, S3Location(BUCKET, sink.key("")))
    body = s3.get_object(Bucket=BUCKET, Key=sink.key("prompts.csv"))["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=sink.key("prompts.csv"), Body=body.replace(b"prompt 7", b"prompt 8"))
    report = verify_export(files)
    assert not report.ok and "prompts.csv" in report.problems[0]


def test_s3_failed_upload_is_aborted_and_leaves_nothing(aws: tuple[Any, str]) -> None:
    s3, key = aws
    where = S3Location(BUCKET, "exports/x/")
    sink = S3ExportSink(s3, where, kms_key_id=key, part_bytes=MIN_PART_BYTES)

    def broken() -> Iterator[bytes]:
        yield b"x" * (MIN_PART_BYTES + 10)
        raise RuntimeError("the database connection broke")

    with pytest.raises(RuntimeError):
        sink.put("prompts.csv", broken(), content_type="text/csv")
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/x/")


def test_s3_presign_refuses_a_client_that_cannot_sign_for_sse_kms(aws: tuple[Any, str]) -> None:
    s3, key = aws
    sink, _ = _export(s3, key, rows=1)
    legacy = S3ExportSink(boto3.client("s3", region_name=REGION, config=Config(signature_version="s3")),
                          S3Location(BUCKET, sink.key("")), kms_key_id=key)
    with pytest.raises(ExportDestinationError, match="SigV4"):
        legacy.presign("manifest.json", 60)


def test_s3_sink_requires_the_exports_key(aws: tuple[Any, str]) -> None:
    with pytest.raises(ExportDestinationError, match="KMS"):
        S3ExportSink(aws[0], S3Location(BUCKET, "x/"), kms_key_id="")


def test_erasure_deletes_every_version_of_the_owners_exports_only(aws: tuple[Any, str]) -> None:
    s3, key = aws
    owner = uuid.uuid4()
    sink, _ = _export(s3, key, rows=20, owner=owner)
    s3.put_object(Bucket=BUCKET, Key=sink.key("prompts.csv"), Body=b"second version")
    other_sink, _ = _export(s3, key, rows=20)
    objects = S3ExportObjects(s3, S3Location(BUCKET, ""))
    locations = [S3Location(BUCKET, sink.key("")).url, "/tmp/somewhere/local"]
    assert objects.remaining(owner, locations) > 0
    deleted, unreachable = objects.delete_owner_exports(owner, locations)
    assert deleted == 2 and unreachable == 1  # prompts.csv and manifest.json; the local path is not ours
    assert objects.remaining(owner, locations) == 0
    assert s3.list_object_versions(Bucket=BUCKET, Prefix=sink.key("")).get("Versions") is None
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=other_sink.key(""))["KeyCount"] == 2
    with pytest.raises(ValueError, match="whole bucket"):
        delete_prefix(s3, S3Location(BUCKET, ""))


@pytest.mark.postgres
def test_export_to_s3_then_erasure_deletes_it(aws: tuple[Any, str], lc_stack: Any, make_org: Any) -> None:
    from runtime.lifecycle.erasure import verify_erasure
    from runtime.lifecycle.jobs import run_export

    s3, key = aws
    org = make_org()
    job = lc_stack.export_job(s3=s3, exports_kms_key_id=key, url_expiry_seconds=900)
    outcome = run_export(job, org.principal, ExportFormat.JSONL, S3Location(BUCKET, "custom/"))
    assert outcome.request.location == f"s3://{BUCKET}/custom/{org.owner_id}/{outcome.request.id}/"
    assert set(outcome.download_urls) == set(outcome.result.files)
    exports = S3ExportObjects(s3, S3Location(BUCKET, ""))
    receipt = lc_stack.eraser(exports=exports).erase(org.principal)
    assert receipt["export_objects_deleted"] == len(outcome.result.files)
    assert receipt["local_exports_not_reached"] == 0
    report = verify_erasure(database=lc_stack.jobs, key_store=lc_stack.jobs_keys,
                            fresh_cipher=lc_stack.fresh_jobs_cipher, receipt_key=lc_stack.receipt_key,
                            principal=org.principal, exports=exports)
    assert report.ok and "exports deleted" in {c.name for c in report.checks}
