"""P5, P6, P7: every bucket of the environment (tagged app and environment) is encrypted (SENSITIVE ones with a
customer-managed KMS key), blocks public access, refuses plain HTTP in its policy, and has Object Lock where the
templates ask for it."""

from __future__ import annotations

import json
from typing import Any

from runtime import contract
from runtime.verify_deployed.context import Context, Missing, Unreadable, check, reading, tags
from runtime.verify_deployed.expected import APP_TAG, ENVIRONMENT_TAG
from runtime.verify_deployed.result import Checker, Result

PUBLIC_ACCESS_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def buckets(ctx: Context) -> dict[str, dict[str, str]]:
    """Bucket name -> its tags, for the buckets tagged for this app and environment."""
    def read() -> dict[str, dict[str, str]]:
        client = ctx.clients("s3")
        with reading("s3", "ListBuckets"):
            names = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
        mine: dict[str, dict[str, str]] = {}
        for name in names:
            try:
                with reading("s3", "GetBucketTagging"):
                    found = tags(client.get_bucket_tagging(Bucket=name).get("TagSet"))
            except Missing:
                continue  # untagged (NoSuchTagSet), or another's bucket: not this environment's
            if found.get(APP_TAG) == ctx.app and found.get(ENVIRONMENT_TAG) == ctx.environment:
                mine[name] = found
        if not mine:
            raise Unreadable(f"no bucket tagged {APP_TAG}={ctx.app}, {ENVIRONMENT_TAG}={ctx.environment}")
        return mine
    found: dict[str, dict[str, str]] = ctx.once("buckets", read)
    return found


@check("storage", "encrypted", ("P6",))
def encrypted(ctx: Context, result: Checker) -> list[Result]:
    client = ctx.clients("s3")
    bad, seen = [], []
    for name, found in buckets(ctx).items():
        with reading("s3", "GetBucketEncryption"):
            rules = client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        algorithm, key = default.get("SSEAlgorithm", "none"), default.get("KMSMasterKeyID", "")
        sensitive = found.get(contract.CLASSIFICATION_TAG) != contract.DataClass.NOT_SENSITIVE.value
        if sensitive and (algorithm != "aws:kms" or not key):
            bad.append(f"{name} (SENSITIVE) is {algorithm}, not a customer-managed KMS key")
        elif algorithm not in ("aws:kms", "aws:kms:dsse", "AES256"):
            bad.append(f"{name} is not encrypted")
        seen.append(f"{name}: {algorithm}")
    return [result.verdict(not bad, "; ".join(bad) if bad else "; ".join(seen), buckets(ctx))]


@check("storage", "public-access-blocked", ("P7",))
def public_access_blocked(ctx: Context, result: Checker) -> list[Result]:
    client = ctx.clients("s3")
    bad = []
    for name in buckets(ctx):
        try:
            with reading("s3", "GetPublicAccessBlock"):
                settings = client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except Missing:
            settings = {}  # NoSuchPublicAccessBlockConfiguration: nothing blocked
        off = [s for s in PUBLIC_ACCESS_SETTINGS if not settings.get(s)]
        if off:
            bad.append(f"{name}: {', '.join(off)} off")
    return [result.verdict(not bad, "; ".join(bad) if bad else f"{len(buckets(ctx))} bucket(s) block all public "
                           "access", buckets(ctx))]


def _denies_plain_http(policy: dict[str, Any]) -> bool:
    for statement in policy.get("Statement", []):
        condition = json.dumps(statement.get("Condition", {}))
        if statement.get("Effect") == "Deny" and "aws:SecureTransport" in condition and "false" in condition:
            return True
    return False


@check("storage", "tls-only", ("P5",))
def tls_only(ctx: Context, result: Checker) -> list[Result]:
    client = ctx.clients("s3")
    bad = []
    for name in buckets(ctx):
        try:
            with reading("s3", "GetBucketPolicy"):
                policy = json.loads(client.get_bucket_policy(Bucket=name)["Policy"])
        except Missing:
            policy = {}  # NoSuchBucketPolicy
        if not _denies_plain_http(policy):
            bad.append(name)
    return [result.verdict(not bad, f"no Deny of aws:SecureTransport=false: {', '.join(bad)}" if bad else
                           "every bucket policy refuses plain HTTP", buckets(ctx))]


@check("storage", "object-lock", ("P9",))
def object_lock(ctx: Context, result: Checker) -> list[Result]:
    wanted = [p for _, _, p in ctx.expected.resources("AWS::S3::Bucket") if p.get("ObjectLockEnabled")]
    if not wanted:
        return [result.not_applicable("no bucket of the templates asks for Object Lock")]
    client = ctx.clients("s3")
    bad = []
    for name in buckets(ctx):
        try:
            with reading("s3", "GetObjectLockConfiguration"):
                enabled = client.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"].get(
                    "ObjectLockEnabled") == "Enabled"
        except Missing:
            enabled = False
        if not enabled:
            bad.append(name)
    return [result.verdict(len(bad) <= len(buckets(ctx)) - len(wanted), f"{len(wanted)} bucket(s) of the templates "
                           f"ask for Object Lock; without it: {', '.join(bad) or 'none'}", buckets(ctx))]


CHECKS = (encrypted, public_access_blocked, tls_only, object_lock)
