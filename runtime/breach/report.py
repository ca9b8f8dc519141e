"""The operator's report of an incident (P12): JSON (the incident, the chain check, the counts, the impact per
organisation and table) and CSV (one line per impacted user and its notification state).

Ids, counts, times, table names and outbox states only: the report is NOT_SENSITIVE and can be attached to a
ticket or sent to a regulator. Addresses are not in it.
"""

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.breach.content import labels
from runtime.breach.incident import Incident
from runtime.breach.outbox import Counts

CSV_COLUMNS = ("incident_id", "owner_id", "user_id", "data_classes", "state", "attempts", "sent_at",
               "next_attempt_at", "last_error")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def report_document(incident: Incident, counts: Counts, impacted: Sequence[Mapping[str, Any]],
                    now: datetime) -> dict[str, Any]:
    organisations: dict[str, dict[str, Any]] = {}
    for row in impacted:
        org = organisations.setdefault(str(row["owner_id"]), {"owner_id": str(row["owner_id"]), "tables": {}})
        org["tables"][row["table_name"]] = {
            "events": row["events"], "rows": row["row_count"], "first_at": row["first_at"],
            "last_at": row["last_at"], "actions": sorted(row["actions"]),
        }
    for org in organisations.values():
        org["data_classes"] = labels(org["tables"])
    deadline = incident.deadline
    document: dict[str, Any] = _plain({
        "incident": {
            "id": incident.id,
            "reference": incident.facts().reference,
            "declared_at": incident.declared_at,
            "due_at": incident.due_at,
            "completed_at": incident.completed_at,
            "window": {"from": incident.window_start, "to": incident.window_end},
            "scope": dict(incident.scope),
            "summary": incident.summary,
            "mitigations": list(incident.mitigations),
            "contact": incident.contact,
        },
        "audit_chain": dict(incident.chain) if incident.chain else None,
        "counts": {**asdict(counts), "impacted_organisations": len(organisations),
                   "vanished_user_rows": incident.vanished_users or 0},
        "deadline": {
            "time_left_seconds": int(deadline.time_left(now).total_seconds()),
            "overdue": deadline.overdue(now, complete=counts.complete),
        },
        "generated_at": now,
        "organisations": sorted(organisations.values(), key=lambda o: o["owner_id"]),
    })
    return document


def write_reports(directory: Path, incident: Incident, document: Mapping[str, Any],
                  notifications: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write `<reference>.json` and `<reference>.csv` into `directory` (created, owner-only)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    reference = incident.facts().reference
    json_path, csv_path = directory / f"{reference}.json", directory / f"{reference}.csv"
    _write(json_path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    with _open(csv_path) as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for row in notifications:
            writer.writerow([
                incident.id, row["owner_id"], row["user_id"], " ".join(row["data_classes"]), row["state"],
                row["attempts"], _plain(row["sent_at"]) or "", _plain(row["next_attempt_at"]) or "",
                row["last_error"] or "",
            ])
    return json_path, csv_path


def _open(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", newline="")


def _write(path: Path, text: str) -> None:
    with _open(path) as f:
        f.write(text)
