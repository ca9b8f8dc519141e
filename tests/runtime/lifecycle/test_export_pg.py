"""Export (P13) from the real database: every table, field by field, in each format; nothing of another
organisation; manifest checksums verify; a changed file is caught; requests and audit are recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.db import OwnerScope
from runtime.errors import ErasureInProgressError, UnknownOrganisationError
from runtime.lifecycle import ExportFormat, LifecycleRequests, verify_export
from runtime.lifecycle.jobs import run_export
from runtime.lifecycle.layout import export_layouts
from runtime.lifecycle.manifest import MANIFEST_NAME, parse_manifest
from runtime.lifecycle.storage import DirectoryFiles
from tests.runtime.lifecycle.conftest import Organisation, Stack
from tests.runtime.lifecycle.helpers import read_rows

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_every_table_round_trips_field_by_field(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path, fmt: ExportFormat
) -> None:
    org, other = make_org(), make_org()
    outcome = run_export(lc_stack.export_job(), org.principal, fmt, tmp_path)
    where = Path(outcome.result.location)
    assert where == tmp_path / str(org.owner_id) / str(outcome.request.id)
    manifest = parse_manifest((where / MANIFEST_NAME).read_bytes())
    other_ids = {i for rows in other.rows.values() for i in rows}
    for layout in export_layouts():
        written = org.rows.get(layout.name, {})
        exported = read_rows(fmt, layout, (where / f"{layout.name}.{fmt.value}").read_bytes())
        assert set(exported) == set(written), layout.name
        assert not other_ids & set(exported)
        for row_id, values in written.items():
            for column, value in values.items():
                assert exported[row_id][column] == value, f"{layout.name}.{column}"
        entry = next(f for f in manifest.files if f.table == layout.name)
        assert entry.rows == len(written)
    assert outcome.result.rows == org.total
    assert verify_export(DirectoryFiles(where), expected_manifest_sha256=outcome.result.manifest_sha256).ok
    assert outcome.request.status == "complete" and outcome.request.manifest_sha256 == outcome.result.manifest_sha256
    assert outcome.request.deadline - outcome.request.contract_ended_at == __import__("datetime").timedelta(days=30)


def test_export_manifest_lists_schema_classes_and_time_range(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    outcome = run_export(lc_stack.export_job(), org.principal, ExportFormat.JSONL, tmp_path)
    document = json.loads((Path(outcome.result.location) / MANIFEST_NAME).read_text())
    assert document["owner_id"] == str(org.owner_id) and document["format_version"] == 1
    prompts = next(t for t in document["tables"] if t["name"] == "prompts")
    classes = {c["name"]: c["class"] for c in prompts["columns"]}
    assert classes["body"] == "sensitive" and classes["id"] == "not-sensitive"
    assert document["time_range"]["first_created_at"] <= document["time_range"]["last_created_at"]


def test_export_verify_detects_a_changed_added_or_missing_file(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    outcome = run_export(lc_stack.export_job(), org.principal, ExportFormat.CSV, tmp_path)
    where = Path(outcome.result.location)
    target = where / "prompts.csv"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x01  # one bit, same size
    target.write_bytes(bytes(data))
    report = verify_export(DirectoryFiles(where))
    assert not report.ok and any("prompts.csv does not match its sha256" in p for p in report.problems)
    (where / "users.csv").unlink()
    (where / "extra.csv").write_bytes(b"x")
    problems = verify_export(DirectoryFiles(where)).problems
    assert any("users.csv is missing" in p for p in problems) and any("extra.csv" in p for p in problems)


def test_export_verify_detects_a_replaced_manifest(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    outcome = run_export(lc_stack.export_job(), org.principal, ExportFormat.JSON, tmp_path)
    where = Path(outcome.result.location)
    manifest = json.loads((where / MANIFEST_NAME).read_text())
    (where / "prompts.json").write_text("[]\n")
    entry = next(t for t in manifest["tables"] if t["name"] == "prompts")
    entry["bytes"], entry["sha256"] = 3, __import__("hashlib").sha256(b"[]\n").hexdigest()
    (where / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert verify_export(DirectoryFiles(where)).ok  # consistent on its own...
    report = verify_export(DirectoryFiles(where), expected_manifest_sha256=outcome.result.manifest_sha256)
    assert not report.ok and "replaced" in report.problems[0]  # ...but not the manifest that was written


def test_export_is_audited_with_counts_and_ids_only(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    run_export(lc_stack.export_job(), org.principal, ExportFormat.JSONL, tmp_path)
    with lc_stack.db.admin() as admin:
        rows = admin.execute(
            "SELECT fields FROM platform.audit_events WHERE owner_id = %s AND fields->>'action' = 'export'",
            (org.owner_id,),
        ).fetchall()
    counts = {r[0]["table"]: r[0]["row_count"] for r in rows}
    assert counts == {t: len(r) for t, r in org.rows.items()}


def test_export_unknown_organisation_is_an_error_and_records_nothing(lc_stack: Stack, tmp_path: Path) -> None:
    stranger = OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-unknown")
    with pytest.raises(UnknownOrganisationError, match="no organisation"):
        run_export(lc_stack.export_job(), stranger, ExportFormat.CSV, tmp_path)
    assert LifecycleRequests(lc_stack.jobs).export_requests(stranger) == []
    assert not any(tmp_path.iterdir())


def test_export_refused_once_erasure_requested(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    LifecycleRequests(lc_stack.app).request_erasure(org.principal)
    with pytest.raises(ErasureInProgressError):
        run_export(lc_stack.export_job(), org.principal, ExportFormat.CSV, tmp_path)


def test_export_request_recorded_by_service_is_picked_up_by_job(
    lc_stack: Stack, make_org: Callable[..., Organisation], tmp_path: Path
) -> None:
    org = make_org()
    requests = LifecycleRequests(lc_stack.app)
    asked = requests.request_export(org.principal, ExportFormat.JSON)
    assert asked.status == "requested"
    outcome = run_export(lc_stack.export_job(), org.principal, ExportFormat.JSON, tmp_path)
    assert outcome.request.id == asked.id
    seen = requests.export_request(org.principal, asked.id)
    assert seen is not None and seen.status == "complete" and seen.row_count == org.total
