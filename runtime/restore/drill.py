"""`restore drill` (P11): the restore procedure against a scratch target, timed per step, then removed.

The drill restores the live cluster to a recent time as `<source>-drill-<time>` with one instance and no
deletion protection, waits, verifies it like a real restore, and deletes it (only a cluster the drill made:
its name and its platform:purpose=drill tag are checked first). The record is written even when a step fails.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from runtime.drill.record import DrillLog, DrillRecord, StepTimer
from runtime.errors import PlatformError, RestorePlanError
from runtime.restore.cluster import TAG_PURPOSE
from runtime.restore.plan import RestorePlan, make_plan
from runtime.restore.procedure import Clusters, Restorer, RowCounter

DRILL_LAG: Final = timedelta(minutes=10)  # restore to ten minutes before the latest restorable time


def drill_time(latest: datetime, earliest: datetime) -> datetime:
    return max(earliest, latest - DRILL_LAG)


def run_restore_drill(
    clusters: Clusters,
    restorer: Restorer,
    source: str,
    *,
    log: DrillLog | None,
    counter: RowCounter | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DrillRecord:
    timer = StepTimer(clock=clock)
    figures: dict[str, Any] = {"source": source}
    plan: RestorePlan | None = None
    try:
        with timer.step("plan"):
            facts = clusters.describe(source)
            if facts.earliest_restorable is None or facts.latest_restorable is None:
                raise RestorePlanError(f"cluster {source} reports no restorable window")
            to = drill_time(facts.latest_restorable, facts.earliest_restorable)
            plan = make_plan(facts, to, now=clock(), instances=1, deletion_protection=False, purpose="drill")
            figures.update(target=plan.target, restore_to=to.isoformat(), instance_class=plan.instance_class)
        with timer.step("restore"):
            figures["resumed"] = restorer.start(plan)
        with timer.step("instances"):
            restorer.add_instances(plan)
        with timer.step("wait"):
            restored = restorer.wait_available(plan)
        with timer.step("verify"):
            checks, counts, note = restorer.verify(plan, restored, counter)
            figures["checks"] = {c.name: c.ok for c in checks}
            figures["row_counts"] = dict(counts) if counts is not None else None
            figures["rows_note"] = note
            failed = [c.name for c in checks if not c.ok]
            if failed:
                timer.fail(f"verify:{failed[0]}")
    except Exception as exc:  # recorded: the failed step and the error class
        timer.fail(f"drill:{type(exc).__name__}")
    if plan is not None:
        try:
            with timer.step("cleanup"):
                _remove(clusters, restorer, plan)
        except Exception as exc:
            timer.fail(f"cleanup:{type(exc).__name__}")
            figures["left_behind"] = plan.target
    record = timer.finish("restore", figures)
    if log is not None:
        log.add(record)
    return record


def _remove(clusters: Clusters, restorer: Restorer, plan: RestorePlan) -> None:
    if not clusters.exists(plan.target):
        return
    facts = clusters.describe(plan.target)
    if "-drill-" not in plan.target or facts.tags.get(TAG_PURPOSE) != "drill":
        raise PlatformError(f"refusing to delete {plan.target}: it is not a drill's cluster")
    restorer.remove(plan.target, instances=[i.identifier for i in facts.instances])
