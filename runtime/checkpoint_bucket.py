"""The audit checkpoint bucket (P14): where signed checkpoints are kept outside the database.

The bucket (stacks/audit.py) has S3 Object Lock with a default retention (COMPLIANCE in prod, GOVERNANCE in dev
and qa): an object cannot be deleted or overwritten until its retention ends, so a checkpoint, once written, is
there for `audit verify` whatever happens to the database. Objects are `<prefix><position, 20 digits>.json`, so
a listing comes back in position order. S3 requires a checksum on uploads to an Object Lock bucket: SHA-256.

The client is injected (runtime/wiring/clients.py builds it): this module imports no AWS SDK.
"""

import re
from collections.abc import Iterator
from typing import Any, Final

from runtime.audit.checkpoints import SignedCheckpoint
from runtime.errors import AuditError

PREFIX: Final = "audit-checkpoints/"
_NAME: Final = re.compile(r"(\d{20})\.json")


class CheckpointBucketError(AuditError):
    """The checkpoint bucket could not be read or written."""


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


class CheckpointBucket:
    def __init__(self, client: Any, bucket: str, *, prefix: str = PREFIX) -> None:
        if not bucket:
            raise CheckpointBucketError("no audit checkpoint bucket is configured")
        self._client = client
        self.bucket = bucket
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"CheckpointBucket({self.bucket!r})"

    def key(self, seq: int) -> str:
        return f"{self._prefix}{seq:020d}.json"

    def put(self, checkpoint: SignedCheckpoint) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.key(checkpoint.seq), Body=checkpoint.document(),
                                    ContentType="application/json", ChecksumAlgorithm="SHA256")
        except Exception as exc:
            raise CheckpointBucketError(f"s3:PutObject of checkpoint {checkpoint.seq} to {self.bucket} failed "
                                        f"({_reason(exc)})") from None

    def has(self, seq: int) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(seq))
        except Exception as exc:
            if _reason(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise CheckpointBucketError(f"s3:GetObject (head) of checkpoint {seq} in {self.bucket} failed "
                                        f"({_reason(exc)})") from None
        return True

    def positions(self) -> Iterator[int]:
        """Every checkpoint position the bucket holds, ascending."""
        request = {"Bucket": self.bucket, "Prefix": self._prefix}
        while True:
            try:
                page = self._client.list_objects_v2(**request)
            except Exception as exc:
                raise CheckpointBucketError(f"s3:ListBucket of {self.bucket} failed ({_reason(exc)})") from None
            for item in page.get("Contents", ()):
                match = _NAME.fullmatch(item["Key"][len(self._prefix):])
                if match:
                    yield int(match.group(1))
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    def read(self, seq: int) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=self.key(seq))["Body"].read()
        except Exception as exc:
            raise CheckpointBucketError(f"s3:GetObject of checkpoint {seq} in {self.bucket} failed "
                                        f"({_reason(exc)})") from None
        return body
