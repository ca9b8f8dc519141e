"""The families of checks, and the run: each check in turn, a read it cannot make reported as "could not check"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from runtime.errors import PlatformError
from runtime.verify_deployed import (
    backup,
    database,
    database_runtime,
    drift,
    drills,
    edge,
    keys,
    monitoring,
    network,
    storage,
    vpn,
)
from runtime.verify_deployed.context import Check, Context, Unreadable
from runtime.verify_deployed.database_runtime import DatabaseContext
from runtime.verify_deployed.result import Checker, Clock, Result, utc_now

FAMILIES: Final[Mapping[str, tuple[Check, ...]]] = {
    "network": network.CHECKS,
    "keys": keys.CHECKS,
    "database": database.CHECKS,
    "backup": backup.CHECKS,
    "storage": storage.CHECKS,
    "edge": edge.CHECKS,
    "vpn": vpn.CHECKS,
    "monitoring": monitoring.CHECKS,
    "drift": drift.CHECKS,
    "runtime": database_runtime.CHECKS,
    "drills": drills.CHECKS,
}
AWS_FAMILIES: Final = tuple(name for name, checks in FAMILIES.items() if all(c.needs == "aws" for c in checks))
DATABASE_FAMILIES: Final = tuple(name for name in FAMILIES if name not in AWS_FAMILIES)


def selected(families: Iterable[str]) -> list[Check]:
    return [c for name in (list(families) or list(FAMILIES)) for c in FAMILIES[name]]


def run(checks: Iterable[Check], *, aws: Context | None, database: DatabaseContext | None,
        clock: Clock = utc_now, why_no_database: str = "no database connection") -> list[Result]:
    results: list[Result] = []
    for item in checks:
        checker = Checker(item.id, item.promises, clock)
        context = aws if item.needs == "aws" else database
        if context is None:
            results.append(checker.not_checked("no templates or AWS access" if item.needs == "aws"
                                               else why_no_database))
            continue
        try:
            results += item.run(context, checker)
        except Unreadable as exc:
            results.append(checker.not_checked(f"could not check: {exc}"))
        except PlatformError as exc:  # the database refused or is unreachable: typed, never a traceback
            results.append(checker.not_checked(f"could not check: {type(exc).__name__}: {exc}"))
    return results
