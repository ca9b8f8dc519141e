"""The deployed-state report, in the compliance report's shape (stacks/policy/report.py): every promise of
runtime/promises.py in turn with what was checked, as report.md (to read), report.json (for tools) and report.csv
(one row per promise and check). A promise passes when none of its checks failed."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.promises import PROMISES, Promise
from runtime.verify_deployed.result import Result, Status

FORMATS = ("md", "json", "csv")


@dataclass(frozen=True)
class Report:
    environment: str
    account: str
    region: str
    generated: datetime
    families: tuple[str, ...]
    results: tuple[Result, ...]

    @property
    def failed_promises(self) -> list[str]:
        return [p.id for p in PROMISES if any(r.status is Status.FAIL for r in self.of(p))]

    @property
    def passed(self) -> bool:
        return not self.failed_promises

    def of(self, promise: Promise) -> list[Result]:
        return [r for r in self.results if promise.id in r.promises]

    def rows(self) -> list[dict[str, str]]:
        return [{"environment": self.environment, "promise": promise.id, "check": r.check, "status": r.status.value,
                 "resources": " ".join(r.resources), "checked_at": r.checked_at.isoformat(), "detail": r.detail}
                for promise in PROMISES for r in self.of(promise)]


def promise_status(results: Sequence[Result]) -> str:
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return "FAIL"
    if Status.PASS in statuses:
        return "pass" + (" (some checks could not run)" if Status.NOT_CHECKED in statuses else "")
    if Status.NOT_CHECKED in statuses:
        return "could not check"
    return "not applicable" if statuses else "no deployed-state check"


def as_json(report: Report) -> str:
    document: dict[str, Any] = {
        "generated": report.generated.isoformat(), "environment": report.environment, "account": report.account,
        "region": report.region, "families": list(report.families), "passed": report.passed,
        "failed_promises": report.failed_promises,
        "promises": [{"id": p.id, "title": p.title, "status": promise_status(report.of(p))} for p in PROMISES],
        "checks": report.rows(),
    }
    return json.dumps(document, indent=2) + "\n"


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["environment", "promise", "check", "status", "resources", "checked_at",
                                             "detail"])
    writer.writeheader()
    writer.writerows(report.rows())
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(report: Report) -> str:
    counts = Counter(r.status.value for r in report.results)
    lines = [
        f"# Deployed-state report: {report.environment}",
        "",
        f"Generated {report.generated:%Y-%m-%d %H:%M UTC} for account {report.account} / {report.region} "
        f"(families: {', '.join(report.families)}). Result: **{'PASS' if report.passed else 'FAIL'}**"
        + (f" (failed: {', '.join(report.failed_promises)})" if report.failed_promises else "") + ".",
        "",
        "Every promise of the data management policy (P1-P14) is listed below with the read-only checks of the "
        "running environment that bear on it, the resources each examined and when. The synth-time rules and their "
        "acknowledgements are in the compliance report (cdk.out/compliance/report.md).",
        "",
        f"{len(report.results)} checks: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['not-applicable']} not applicable, {counts['could-not-check']} could not check.",
        "",
        "## Promises",
        "",
    ]
    for promise in PROMISES:
        mine = report.of(promise)
        lines += [f"### {promise.id}: {promise.title}", "", f"Kept in: {promise.kept_in}. Deployed state: "
                  f"**{promise_status(mine)}**.", ""]
        if mine:
            lines += ["| Check | Status | Checked at | Resources | Detail |", "|---|---|---|---|---|"]
            lines += [f"| `{r.check}` | {r.status.value} | {r.checked_at:%Y-%m-%d %H:%M:%S} | "
                      f"{_cell(', '.join(f'`{x}`' for x in r.resources)) or '-'} | {_cell(r.detail)} |" for r in mine]
            lines.append("")
    return "\n".join(lines)


RENDERERS = {"md": as_markdown, "json": as_json, "csv": as_csv}


def write(report: Report, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, render in RENDERERS.items():
        (folder / f"report.{name}").write_text(render(report), encoding="utf-8")
    return folder
