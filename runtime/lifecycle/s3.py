"""Exports in S3 (P13): SSE-KMS under the exports key, multipart for large files, presigned download URLs.

The client is injected (boto3 `s3` in the job, moto in tests); nothing here builds one. Memory per file is
one part (PART_BYTES) however large the file. A failed upload is aborted, so no partial object remains.
Errors keep the S3 error code only (never a message, which could quote a key).
"""

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from runtime.aws_protocols import S3Client
from runtime.errors import ExportDestinationError
from runtime.lifecycle.storage import S3Location, parse_destination

PART_BYTES: Final = 8 * 1024 * 1024  # S3 takes parts of 5 MiB to 5 GiB (but the last)
MIN_PART_BYTES: Final = 5 * 1024 * 1024
_DELETE_BATCH: Final = 1000  # DeleteObjects' limit


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping) and isinstance(error.get("Code"), str):
            return str(error["Code"])
    return type(exc).__name__


def _failed(what: str, location: str, exc: Exception) -> ExportDestinationError:
    return ExportDestinationError(
        f"S3 {what} under {location} failed ({_code(exc)}); check that the job role may write the bucket and use "
        "the exports KMS key through S3"
    )


class S3ExportSink:
    def __init__(self, client: S3Client, location: S3Location, *, kms_key_id: str,
                 part_bytes: int = PART_BYTES) -> None:
        if not kms_key_id:
            raise ExportDestinationError("an S3 export needs the exports KMS key id (SSE-KMS, P6)")
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"S3 parts are at least {MIN_PART_BYTES} bytes")
        self._client = client
        self._where = location
        self._kms_key_id = kms_key_id
        self._part_bytes = part_bytes
        self.multipart_files: list[str] = []  # which files went up in parts (reported, and tested)

    @property
    def location(self) -> str:
        return self._where.url

    def key(self, name: str) -> str:
        return self._where.prefix + name

    def _encryption(self) -> dict[str, str]:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key_id}

    def put(self, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        key = self.key(name)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= self._part_bytes:
                    if upload_id is None:
                        upload_id = self._client.create_multipart_upload(
                            Bucket=self._where.bucket, Key=key, ContentType=content_type, **self._encryption()
                        )["UploadId"]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                self._client.put_object(Bucket=self._where.bucket, Key=key, Body=bytes(buffer),
                                        ContentType=content_type, **self._encryption())
                return
            if buffer:
                parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self._client.complete_multipart_upload(
                Bucket=self._where.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            self.multipart_files.append(name)
        except Exception as exc:
            if upload_id is not None:
                try:
                    self._client.abort_multipart_upload(Bucket=self._where.bucket, Key=key, UploadId=upload_id)
                except Exception as abort_exc:  # the original failure is what matters; say what is left
                    exc.add_note(f"aborting the multipart upload also failed ({_code(abort_exc)}); the bucket's "
                                 "lifecycle rule removes incomplete uploads")
            if isinstance(exc, ExportDestinationError) or not hasattr(exc, "response"):
                raise
            raise _failed(f"upload of {name}", self.location, exc) from None

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        response = self._client.upload_part(Bucket=self._where.bucket, Key=key, UploadId=upload_id,
                                            PartNumber=number, Body=body)
        return {"ETag": response["ETag"], "PartNumber": number}

    def presign(self, name: str, expires_in: int) -> str:
        """A download URL for one file, valid `expires_in` seconds (or until the signing credentials expire)."""
        url = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._where.bucket, "Key": self.key(name)}, ExpiresIn=expires_in
        )
        if "X-Amz-Signature=" not in url:
            # S3 refuses other signatures for SSE-KMS objects: the URL would never work.
            raise ExportDestinationError(
                "the S3 client does not sign with SigV4; build it with botocore Config(signature_version='s3v4')"
            )
        return url


class S3ExportFiles:
    def __init__(self, client: S3Client, location: S3Location) -> None:
        self._client = client
        self._where = location

    @property
    def location(self) -> str:
        return self._where.url

    def names(self) -> set[str]:
        prefix = self._where.prefix
        return {key[len(prefix):] for key in list_keys(self._client, self._where) if "/" not in key[len(prefix):]}

    def read(self, name: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self._where.bucket, Key=self._where.prefix + name)["Body"]
        except Exception as exc:
            raise ExportDestinationError(
                f"{name} is missing from {self.location} or unreadable ({_code(exc)})"
            ) from None
        try:
            yield from body.iter_chunks(1024 * 1024)
        finally:
            body.close()


def list_keys(client: S3Client, location: S3Location) -> Iterator[str]:
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": location.bucket, "Prefix": location.prefix}
        if token:
            kwargs["ContinuationToken"] = token
        try:
            page = client.list_objects_v2(**kwargs)
        except Exception as exc:
            raise _failed("listing", location.url, exc) from None
        for item in page.get("Contents", []):
            yield str(item["Key"])
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")


def list_versions(client: S3Client, location: S3Location) -> Iterator[tuple[str, str]]:
    """(key, version id) of every version and delete marker under `location` (the bucket is versioned)."""
    key_marker: str | None = None
    version_marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": location.bucket, "Prefix": location.prefix}
        if key_marker:
            kwargs["KeyMarker"] = key_marker
        if version_marker:
            kwargs["VersionIdMarker"] = version_marker
        try:
            page = client.list_object_versions(**kwargs)
        except Exception as exc:
            raise _failed("listing of versions", location.url, exc) from None
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield str(item["Key"]), str(item["VersionId"])
        if not page.get("IsTruncated"):
            return
        key_marker, version_marker = page.get("NextKeyMarker"), page.get("NextVersionIdMarker")


def delete_prefix(client: S3Client, location: S3Location) -> int:
    """Delete every object under `location`, every version of it included (the export bucket is versioned, and
    a plain delete would leave the data in a noncurrent version); return how many objects were there.
    Used by erasure (P10)."""
    if not location.prefix:
        raise ValueError("refusing to delete a whole bucket: give an owner's prefix")
    keys: set[str] = set()
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        objects = [{"Key": k, "VersionId": v} for k, v in batch]
        try:
            response = client.delete_objects(Bucket=location.bucket, Delete={"Objects": objects, "Quiet": True})
        except Exception as exc:
            raise _failed("deletion", location.url, exc) from None
        errors = response.get("Errors") or []
        if errors:
            raise ExportDestinationError(
                f"S3 refused to delete {len(errors)} object version(s) under {location.url} "
                f"({errors[0].get('Code', 'unknown')}); grant the job role s3:DeleteObject and "
                "s3:DeleteObjectVersion on the export bucket, then re-run the erasure"
            )
        batch.clear()

    for key, version in list_versions(client, location):
        keys.add(key)
        batch.append((key, version))
        if len(batch) == _DELETE_BATCH:
            flush()
    if batch:
        flush()
    return len(keys)


class S3ExportObjects:
    """An owner's exports in S3, for erasure: at the locations recorded with its export requests and under
    the export bucket's default prefix (`s3://<bucket>/<owner id>/`)."""

    def __init__(self, client: S3Client, default: S3Location | None) -> None:
        self._client = client
        self._default = default

    def _prefixes(self, owner_id: uuid.UUID, locations: Sequence[str]) -> tuple[list[S3Location], int]:
        owner = str(owner_id)
        candidates: list[S3Location] = []
        unreachable = 0
        if self._default is not None:
            candidates.append(self._default.child(owner))
        for text in locations:
            if not text.startswith("s3://"):
                unreachable += 1  # a directory on the machine that ran the export: not ours to reach
                continue
            where = parse_destination(text)
            assert isinstance(where, S3Location)
            if f"/{owner}/" not in "/" + where.prefix:
                unreachable += 1  # never delete anything that is not under the owner's own id
                continue
            candidates.append(where)
        chosen: list[S3Location] = []
        for where in sorted(set(candidates), key=lambda w: (w.bucket, len(w.prefix))):
            if not any(c.bucket == where.bucket and where.prefix.startswith(c.prefix) for c in chosen):
                chosen.append(where)
        return chosen, unreachable

    def delete_owner_exports(self, owner_id: uuid.UUID, locations: Sequence[str]) -> tuple[int, int]:
        prefixes, unreachable = self._prefixes(owner_id, locations)
        return sum(delete_prefix(self._client, where) for where in prefixes), unreachable

    def remaining(self, owner_id: uuid.UUID, locations: Sequence[str]) -> int:
        prefixes, _ = self._prefixes(owner_id, locations)
        return sum(1 for where in prefixes for _ in list_versions(self._client, where))
