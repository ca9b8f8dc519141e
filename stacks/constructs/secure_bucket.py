"""S3 buckets that are private, TLS-only (1.2+), versioned and classified by construction (P2, P5, P6)."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.classification import DataClass, classify


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    data_class: DataClass,
    removal_policy: RemovalPolicy,
    key: kms.IKey | None,
    access_logs: s3.IBucket | None,
    expire_after_days: int | None = None,
    name_prefix: str | None = None,
    object_lock: s3.ObjectLockRetention | None = None,
) -> s3.Bucket:
    """A bucket encrypted with `key` (SSE-KMS, bucket keys on). `key=None` means SSE-S3, which only a
    log-delivery bucket may use: S3 server access logs and ALB access logs cannot be written to SSE-KMS.
    Unnamed, CloudFormation makes a unique name; with `name_prefix`, the name is "<prefix>-<account>-<region>-an"
    in the account-regional namespace (never a global name another account could claim first). `object_lock`: S3
    Object Lock with that default retention (write once: no object version is deleted or overwritten before it ends).
    """
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name_prefix=name_prefix,
        bucket_namespace=s3.BucketNamespace.ACCOUNT_REGIONAL if name_prefix else None,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=bool(key),
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED if key else s3.ObjectOwnership.OBJECT_WRITER,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        object_lock_enabled=True if object_lock else None,
        object_lock_default_retention=object_lock,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"s3/{construct_id}/" if access_logs else None,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire",
                expiration=Duration.days(expire_after_days),
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ]
        if expire_after_days
        else None,
        removal_policy=removal_policy,
    )
    classify(bucket, data_class)
    return bucket
