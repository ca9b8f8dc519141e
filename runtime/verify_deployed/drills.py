"""P11, P12: the last passed restore drill and breach drill (platform.lifecycle_drills) are at most a year old."""

from __future__ import annotations

from datetime import timedelta

from runtime.drill.postgres import PostgresDrillLog
from runtime.verify_deployed.context import check
from runtime.verify_deployed.database_runtime import DatabaseContext
from runtime.verify_deployed.result import Checker, Result

YEARLY = timedelta(days=365)


def _drilled(ctx: DatabaseContext, result: Checker, kind: str, command: str) -> list[Result]:
    last = PostgresDrillLog(ctx.connections()).last_passed(kind)
    if last is None:
        return [result.verdict(False, f"no {kind} drill ever passed: run `python -m runtime {command}`",
                               ["platform.lifecycle_drills"])]
    age = ctx.clock() - last
    return [result.verdict(age <= YEARLY, f"last passed {kind} drill finished {last:%Y-%m-%d %H:%M} UTC, "
                           f"{age.days} day(s) ago" + ("" if age <= YEARLY else f": overdue, run `python -m runtime "
                                                       f"{command}`"), ["platform.lifecycle_drills"])]


@check("drills", "breach-drill", ("P12",), needs="database")
def breach_drill(ctx: DatabaseContext, result: Checker) -> list[Result]:
    return _drilled(ctx, result, "breach", "breach drill")


@check("drills", "restore-drill", ("P11",), needs="database")
def restore_drill(ctx: DatabaseContext, result: Checker) -> list[Result]:
    return _drilled(ctx, result, "restore", "restore drill")


CHECKS = (breach_drill, restore_drill)
