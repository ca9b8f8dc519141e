"""Pure logic: value encoding round trips (any bytes), RFC 4180 CSV, valid JSON, manifests, plans, receipts."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import settings as names
from runtime.errors import ConfigurationError, ExportDestinationError, LifecycleError, ReceiptKeyError
from runtime.lifecycle import ExportFormat, complete_everywhere_by, deletion_order, verify_export, write_export
from runtime.lifecycle.config import LifecycleSettings
from runtime.lifecycle.receipt import ReceiptKey
from runtime.lifecycle.storage import DirectoryFiles, DirectorySink, S3Location, parse_destination
from runtime.lifecycle.writers import write_table
from tests.runtime.lifecycle.fakes import PROMPTS, START, GeneratedSource
from tests.runtime.lifecycle.helpers import read_rows

# Any bytes, any text, and text with lone surrogates (bytes that look like UTF-8 but are not).
values = st.one_of(st.none(), st.binary(max_size=64),
                   st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(values, st.binary(max_size=64)), max_size=8), st.sampled_from(list(ExportFormat)))
def test_any_bytes_round_trip_in_every_format(pairs: list[tuple[bytes | None, bytes]], fmt: ExportFormat) -> None:
    rows = [(uuid.uuid4(), START + timedelta(seconds=i), name, body) for i, (name, body) in enumerate(pairs)]
    data = b"".join(write_table(fmt, PROMPTS, rows))
    back = read_rows(fmt, PROMPTS, data)
    assert [(r[0], r[2], r[3]) for r in rows] == [(i, back[i]["name"], back[i]["body"]) for i, *_ in rows]
    assert all(back[r[0]]["created_at"] == r[1] for r in rows)


def test_csv_is_rfc4180_with_header_crlf_and_quoting() -> None:
    rows = [(uuid.UUID(int=1), START, b'a, "b"\r\nc', b"")]
    text = b"".join(write_table(ExportFormat.CSV, PROMPTS, rows)).decode()
    assert text.startswith("id,created_at,name,body,_encoding\r\n")
    assert '"a, ""b""\r\nc"' in text and text.endswith("\r\n")
    [_header, record] = list(csv.reader(io.StringIO(text, newline="")))
    assert record[2] == 'a, "b"\r\nc' and record[3] == "" and record[4] == ""


def test_csv_marks_null_and_binary_so_they_are_not_confused_with_text() -> None:
    rows = [(uuid.UUID(int=1), START, None, b"\xff\x00")]
    [_, record] = list(csv.reader(io.StringIO(b"".join(write_table(ExportFormat.CSV, PROMPTS, rows)).decode())))
    assert record[2] == "" and record[3] == "/wA=" and record[4] == "name:null;body:base64"


def test_json_is_one_valid_document_even_when_empty() -> None:
    assert json.loads(b"".join(write_table(ExportFormat.JSON, PROMPTS, []))) == []
    rows = [(uuid.UUID(int=i), START, b"\xff", "\u2028".encode()) for i in range(3)]
    document = json.loads(b"".join(write_table(ExportFormat.JSON, PROMPTS, rows)))
    assert document[0]["name"] == {"base64": "/w=="} and len(document) == 3


def test_directory_export_verifies_and_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    result = write_export(GeneratedSource(100), DirectorySink(tmp_path / "out"), ExportFormat.JSONL,
                          export_id=uuid.uuid4(), owner_id=uuid.uuid4(), clock=lambda: START)
    assert result.rows == 100 and verify_export(DirectoryFiles(tmp_path / "out")).ok
    with pytest.raises(ExportDestinationError, match="not empty"):
        DirectorySink(tmp_path / "out")


def test_parse_destination() -> None:
    assert parse_destination("s3://my-bucket/a/b/") == S3Location("my-bucket", "a/b/")
    assert parse_destination("s3://my-bucket") == S3Location("my-bucket", "")
    assert parse_destination("/tmp/x") == Path("/tmp/x")
    for bad in ("s3://", "s3://Bad_Bucket/x", "s3://bucket/../x", "https://example.test/x"):
        with pytest.raises(ExportDestinationError):
            parse_destination(bad)


def test_deletion_order_children_first_and_cycles_refused() -> None:
    refs = [("b", "a"), ("c", "b"), ("c", "a"), ("d", "a")]
    assert deletion_order(["a", "b", "c", "d"], refs, last="a") == ("c", "b", "d", "a")
    with pytest.raises(LifecycleError, match="cycle"):
        deletion_order(["a", "b"], [("a", "b"), ("b", "a")], last="a")


def test_completion_date_is_the_longest_of_backup_retention_and_cache_age() -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    assert complete_everywhere_by(at, longest_backup_retention_days=35, dek_cache_max_age_seconds=300) == \
        at + timedelta(days=35)
    assert complete_everywhere_by(at, longest_backup_retention_days=0, dek_cache_max_age_seconds=300) == \
        at + timedelta(seconds=300)


def test_settings_from_environment_and_retention_required() -> None:
    env = {names.ENVIRONMENT: "prod", names.LONGEST_BACKUP_RETENTION_DAYS: "35", names.EXPORTS_BUCKET: "b",
           names.EXPORT_URL_EXPIRY_SECONDS: "3600"}
    loaded = LifecycleSettings.from_environment(env)
    assert loaded.require_retention() == 35 and loaded.url_expiry_seconds == 3600
    missing = LifecycleSettings.from_environment({names.ENVIRONMENT: "prod"})
    with pytest.raises(ConfigurationError, match=names.LONGEST_BACKUP_RETENTION_DAYS):
        missing.require_retention()
    with pytest.raises(ConfigurationError, match="7 days"):
        LifecycleSettings.from_environment({**env, names.EXPORT_URL_EXPIRY_SECONDS: "999999"})


def test_receipt_key_never_shown_and_must_be_long_enough() -> None:
    key = ReceiptKey(os.urandom(32))
    assert "redacted" in repr(key)
    with pytest.raises(ReceiptKeyError):
        ReceiptKey(b"short")
    with pytest.raises(ReceiptKeyError, match=names.ERASURE_RECEIPT_KEY):
        ReceiptKey.from_environment({})
