"""The owner's download of a complete export (P13): the organisation's admin gets presigned URLs for each file
and the manifest, short-lived (15 minutes by default, never beyond the signing credentials), one audit event
per URL (P14); members get 403, other organisations 404, an export not complete 409; the typed client's
exports (request, list, get, downloads) on the same routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3  # type: ignore[import-untyped]
import pytest
import requests
from botocore.config import Config  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from moto import mock_aws

from runtime import settings
from runtime.client import ConflictError, ForbiddenError
from runtime.lifecycle import ExportFormat, write_export
from runtime.lifecycle.downloads import ExportDownloads, client_credential_expiry
from runtime.lifecycle.s3 import S3ExportSink
from runtime.lifecycle.storage import S3Location, export_location
from runtime.service.app import create_app
from runtime.service.auth import AdminRule
from runtime.service.context import ServiceContext, admin_scope
from runtime.service.lifecycle_routes import lifecycle_router
from runtime.service.wiring import export_downloads
from tests.runtime.lifecycle.fakes import START, GeneratedSource
from tests.runtime.service.conftest import Org, register
from tests.support.client import platform_client
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

REGION = "eu-west-1"
BUCKET = "app-test-exports-123456789012-eu-west-1"
ADMIN = {settings.DEFAULT_AUTH_ADMIN_CLAIM: [settings.DEFAULT_AUTH_ADMIN_ROLE]}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Credentials:
    def __init__(self) -> None:
        self.expires: datetime | None = None

    def __call__(self) -> datetime | None:
        return self.expires


@pytest.fixture
def aws() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key = boto3.client("kms", region_name=REGION).create_key(Description="exports")["KeyMetadata"]["Arn"]
        yield s3, key


@pytest.fixture
def credentials() -> Credentials:
    return Credentials()


@pytest.fixture
def http(aws: tuple[Any, str], credentials: Credentials, owner_context: ServiceContext) -> Iterator[TestClient]:
    s3, _ = aws
    downloads = ExportDownloads(s3, bucket=BUCKET, credential_expiry=credentials, clock=lambda: NOW)
    rule = AdminRule(claim=settings.DEFAULT_AUTH_ADMIN_CLAIM, role=settings.DEFAULT_AUTH_ADMIN_ROLE)
    router = lifecycle_router(admin_scope=admin_scope(rule), downloads=downloads)
    with TestClient(create_app(owner_context, routers=[router]), raise_server_exceptions=False) as client:
        yield client


def _admin(issuer: TokenIssuer, org: Org) -> dict[str, str]:
    return issuer.headers(org.user, org.id, **ADMIN)


def _complete_export(http: TestClient, issuer: TokenIssuer, org: Org, aws: tuple[Any, str],
                     platform_db: PlatformDatabase, *, bucket: str = BUCKET) -> str:
    s3, key = aws
    answer = http.post("/v1/lifecycle/exports", json={"format": "csv"}, headers=_admin(issuer, org))
    assert answer.status_code == 202, answer.text
    request_id = uuid.UUID(answer.json()["id"])
    where = export_location(S3Location(bucket, ""), org.id, request_id)
    assert isinstance(where, S3Location)
    if bucket != BUCKET:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    result = write_export(GeneratedSource(3), S3ExportSink(s3, where, kms_key_id=key), ExportFormat.CSV,
                          export_id=request_id, owner_id=org.id, clock=lambda: START)
    with platform_db.admin() as conn:  # what the lifecycle job records (as its own role)
        conn.execute("UPDATE platform.export_requests SET status = 'complete', started_at = now(), "
                     "completed_at = now(), location = %s, manifest_sha256 = %s, row_count = %s WHERE id = %s",
                     (where.url, bytes.fromhex(result.manifest_sha256), result.rows, request_id))
    return str(request_id)


def _url_events(platform_db: PlatformDatabase, org: Org) -> int:
    with platform_db.admin() as conn:
        row = conn.execute(
            "SELECT count(*) FROM platform.audit_events WHERE owner_id = %s AND fields->>'action' = 'export' "
            "AND fields->>'table' = 'export_requests'", (org.id,)).fetchone()
    assert row is not None
    return int(row[0])


def _expires(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0])


def test_download_complete_export_admin_gets_short_lived_urls_each_audited(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
) -> None:
    org = register(http, issuer, "erin@e.example")
    request_id = _complete_export(http, issuer, org, aws, platform_db)
    before = _url_events(platform_db, org)
    answer = http.post(f"/v1/lifecycle/exports/{request_id}/downloads", headers=_admin(issuer, org))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert answer.headers["cache-control"] == "no-store"  # the URLs are bearer credentials
    assert body["expires_in_seconds"] == 900
    assert body["expires_at"] == (NOW + timedelta(seconds=900)).isoformat()
    urls = [body["manifest"]["url"], *(f["url"] for f in body["files"])]
    assert body["files"] and all(f["sha256"] and f["rows"] is not None for f in body["files"])
    assert all(_expires(url) == 900 for url in urls)
    assert all(f"/{org.id}/{request_id}/" in urlparse(url).path for url in urls)
    assert _url_events(platform_db, org) - before == len(urls)  # one audit event per URL handed out
    fetched = requests.get(body["manifest"]["url"], timeout=10)  # moto serves the presigned URL
    assert fetched.status_code == 200 and request_id in fetched.text


def test_download_credentials_expire_sooner_url_expiry_capped(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
    credentials: Credentials,
) -> None:
    org = register(http, issuer, "fay@f.example")
    request_id = _complete_export(http, issuer, org, aws, platform_db)
    credentials.expires = NOW + timedelta(minutes=5)
    body = http.post(f"/v1/lifecycle/exports/{request_id}/downloads", headers=_admin(issuer, org)).json()
    assert body["expires_in_seconds"] == 270  # five minutes less the 30 s margin
    assert all(_expires(f["url"]) == 270 for f in [body["manifest"], *body["files"]])
    credentials.expires = NOW + timedelta(seconds=80)  # under a minute left after the margin: nothing signed
    refused = http.post(f"/v1/lifecycle/exports/{request_id}/downloads", headers=_admin(issuer, org))
    assert refused.status_code == 409


def test_download_member_forbidden_other_organisation_not_found(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
) -> None:
    org = register(http, issuer, "gus@g.example")
    other = register(http, issuer, "hal@h.example")
    request_id = _complete_export(http, issuer, org, aws, platform_db)
    before = _url_events(platform_db, org)
    path = f"/v1/lifecycle/exports/{request_id}/downloads"
    assert http.post(path, headers=org.headers).status_code == 403
    assert http.post(path).status_code == 401
    assert http.post(path, headers=_admin(issuer, other)).status_code == 404
    assert _url_events(platform_db, org) == before


def test_download_export_not_complete_or_elsewhere_conflict(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
) -> None:
    org = register(http, issuer, "ida@i.example")
    pending = http.post("/v1/lifecycle/exports", json={"format": "json"}, headers=_admin(issuer, org)).json()["id"]
    assert http.post(f"/v1/lifecycle/exports/{pending}/downloads", headers=_admin(issuer, org)).status_code == 409
    elsewhere = _complete_export(http, issuer, org, aws, platform_db, bucket="another-bucket-eu-west-1")
    assert http.post(f"/v1/lifecycle/exports/{elsewhere}/downloads", headers=_admin(issuer, org)).status_code == 409


def test_download_manifest_changed_after_export_refused(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
) -> None:
    s3, key = aws
    org = register(http, issuer, "jo@j.example")
    request_id = _complete_export(http, issuer, org, aws, platform_db)
    s3.put_object(Bucket=BUCKET, Key=f"{org.id}/{request_id}/manifest.json", Body=b"{}",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    assert http.post(f"/v1/lifecycle/exports/{request_id}/downloads",
                     headers=_admin(issuer, org)).status_code == 502


def test_download_without_exports_bucket_unavailable(
    owner_context: ServiceContext, issuer: TokenIssuer,
) -> None:
    assert export_downloads({}, lambda service: None) is None
    rule = AdminRule(claim=settings.DEFAULT_AUTH_ADMIN_CLAIM, role=settings.DEFAULT_AUTH_ADMIN_ROLE)
    app = create_app(owner_context, routers=[lifecycle_router(admin_scope=admin_scope(rule))])
    with TestClient(app, raise_server_exceptions=False) as http:
        org = register(http, issuer, "kim@k.example")
        request = http.post("/v1/lifecycle/exports", json={"format": "csv"}, headers=_admin(issuer, org)).json()
        assert http.post(f"/v1/lifecycle/exports/{request['id']}/downloads",
                         headers=_admin(issuer, org)).status_code == 503


def test_download_expiry_setting_bounded() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        environ = {settings.EXPORTS_BUCKET: BUCKET, settings.EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS: "7200"}
        with pytest.raises(Exception, match="EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS"):
            export_downloads(environ, lambda service: s3)
        environ[settings.EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS] = "600"
        assert export_downloads(environ, lambda service: s3) is not None


def test_client_credential_expiry_static_keys_none_refreshable_expiry() -> None:
    static = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    assert client_credential_expiry(static)() is None

    class Refreshable:
        _expiry_time = NOW

        def get_frozen_credentials(self) -> None:
            return None

    class Signer:
        _credentials = Refreshable()

    class Client:
        _request_signer = Signer()

    assert client_credential_expiry(Client())() == NOW


def test_download_through_the_typed_client_admin_only(
    http: TestClient, issuer: TokenIssuer, aws: tuple[Any, str], platform_db: PlatformDatabase,
) -> None:
    org = register(http, issuer, "lea@l.example")
    admin, member = platform_client(http, _admin(issuer, org)), platform_client(http, org.headers)
    pending = admin.exports.request("json", contract_ended_at=NOW)
    assert pending["status"] == "requested" and pending["deadline"] == (NOW + timedelta(days=30)).isoformat()
    with pytest.raises(ConflictError):  # not complete yet
        admin.exports.downloads(pending["id"])
    request_id = _complete_export(http, issuer, org, aws, platform_db)
    assert {r["id"] for r in admin.exports.list()} == {pending["id"], request_id}
    assert admin.exports.get(request_id)["status"] == "complete"
    download = admin.exports.downloads(request_id)
    assert download["export_id"] == request_id and download["expires_in_seconds"] == 900
    assert requests.get(download["manifest"]["url"], timeout=10).status_code == 200
    for refused in (member.exports.list, lambda: member.exports.get(request_id),
                    lambda: member.exports.downloads(request_id)):
        with pytest.raises(ForbiddenError) as denied:
            refused()
        assert denied.value.status == 403
