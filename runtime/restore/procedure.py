"""`restore apply` (P11): execute a plan, wait with progress, verify, and say how to cut over. Every failure
says what exists now and what to do next; running the same command again resumes (an existing target that
is this same restore is picked up, instances already there are kept).

Pure orchestration over the `Clusters` port (runtime/restore/rds.py) and an optional row counter
(runtime/restore/rows.py); sleep and clock are injected.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from runtime.checks import Check
from runtime.errors import PlatformError, RestorePlanError, RestoreStepError, RestoreVerificationError
from runtime.restore.cluster import TAG_RESTORE_OF, TAG_RESTORE_TO, ClusterFacts, same_key
from runtime.restore.plan import InstancePlan, RestorePlan

DEFAULT_TIMEOUT: Final = timedelta(hours=3)
DEFAULT_POLL: Final = 30.0
FAILED_STATES: Final = frozenset({
    "failed", "inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable",
    "incompatible-restore", "incompatible-parameters", "incompatible-network", "storage-full",
})

Progress = Callable[[str], object]


class Clusters(Protocol):
    def describe(self, identifier: str) -> ClusterFacts: ...

    def exists(self, identifier: str) -> bool: ...

    def restore_cluster(self, plan: RestorePlan) -> None: ...

    def create_instance(self, plan: RestorePlan, instance: InstancePlan) -> None: ...

    def delete_instance(self, identifier: str) -> None: ...

    def delete_cluster(self, identifier: str) -> None: ...


class RowCounter(Protocol):
    def counts(self, endpoint: str, port: int | None) -> Mapping[str, int | None]:
        """Rows per key table of the database at `endpoint`; raises a PlatformError when unreachable."""
        ...


@dataclass(frozen=True, slots=True)
class Applied:
    plan: RestorePlan
    restored: ClusterFacts
    checks: tuple[Check, ...]
    resumed: bool
    row_counts: Mapping[str, int | None] | None = None
    rows_note: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _state(clusters: Clusters, target: str) -> str:
    """What exists of `target` right now, for error messages."""
    try:
        facts = clusters.describe(target)
    except PlatformError:
        return f"nothing named {target} exists"
    instances = ", ".join(f"{i.identifier} ({i.status})" for i in facts.instances) or "no instances"
    return f"cluster {target} exists ({facts.status}) with {instances}"


def _delete_hint(target: str) -> str:
    return (f"or remove it: aws rds delete-db-instance --db-instance-identifier <each instance> --skip-final-snapshot; "
            f"aws rds delete-db-cluster --db-cluster-identifier {target} --skip-final-snapshot")


class Restorer:
    def __init__(self, clusters: Clusters, *, progress: Progress = print, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = _utc_now, timer: Callable[[], float] = time.perf_counter,
                 timeout: timedelta = DEFAULT_TIMEOUT, poll: float = DEFAULT_POLL) -> None:
        self._clusters = clusters
        self._progress = progress
        self._sleep = sleep
        self._clock = clock
        self._timer = timer
        self._timeout = timeout
        self._poll = poll

    # --- the steps -------------------------------------------------------------------------------------

    def start(self, plan: RestorePlan) -> bool:
        """Start the cluster restore, or pick up this same restore started before; True when resumed."""
        if self._clusters.exists(plan.target):
            existing = self._clusters.describe(plan.target)
            if (existing.tags.get(TAG_RESTORE_OF) != plan.source
                    or existing.tags.get(TAG_RESTORE_TO) != plan.tags[TAG_RESTORE_TO]):
                raise RestorePlanError(
                    f"a cluster named {plan.target} already exists and is not a restore of {plan.source} to "
                    f"{plan.tags[TAG_RESTORE_TO]}; choose another --target"
                )
            self._progress(f"resuming: {plan.target} exists ({existing.status}) from an earlier run of this restore")
            return True
        try:
            self._clusters.restore_cluster(plan)
        except PlatformError as exc:
            raise RestoreStepError(
                f"{exc}. Nothing was created. Fix the cause (the job needs rds:RestoreDBClusterToPointInTime and "
                "kms:CreateGrant on the database key) and run the same command again"
            ) from None
        self._progress(f"restore of {plan.source} to {plan.restore_to.isoformat()} started as {plan.target}")
        return False

    def add_instances(self, plan: RestorePlan) -> None:
        present = {i.identifier for i in self._clusters.describe(plan.target).instances}
        for instance in plan.instances:
            if instance.identifier in present:
                continue
            try:
                self._clusters.create_instance(plan, instance)
            except PlatformError as exc:
                raise RestoreStepError(
                    f"{exc}. State: {_state(self._clusters, plan.target)}. Run the same command again to resume "
                    f"(existing instances are kept), {_delete_hint(plan.target)}"
                ) from None
            self._progress(f"instance {instance.identifier} ({instance.instance_class}) requested")

    def wait_available(self, plan: RestorePlan) -> ClusterFacts:
        started = self._clock()
        deadline = started + self._timeout
        wanted = {i.identifier for i in plan.instances}
        last = ""
        while True:
            facts = self._clusters.describe(plan.target)
            states = {i.identifier: i.status for i in facts.instances if i.identifier in wanted}
            summary = f"{plan.target}: {facts.status}; " + ", ".join(
                f"{name} {states.get(name, 'not yet listed')}" for name in sorted(wanted))
            if summary != last:
                elapsed = int((self._clock() - started).total_seconds())
                self._progress(f"[{elapsed // 60:>3}m {elapsed % 60:02d}s] {summary}")
                last = summary
            bad = [s for s in (facts.status, *states.values()) if s in FAILED_STATES]
            if bad:
                raise RestoreStepError(
                    f"the restore failed: {summary}. Look at the RDS events of {plan.target} "
                    f"(aws rds describe-events --source-identifier {plan.target} --source-type db-cluster), then "
                    f"{_delete_hint(plan.target)}"
                )
            if facts.status == "available" and set(states) == wanted and all(
                    s == "available" for s in states.values()):
                return facts
            if self._clock() >= deadline:
                raise RestoreStepError(
                    f"still not available after {self._timeout}: {summary}. Nothing is wrong yet: run the same "
                    f"command again to keep waiting (it resumes), {_delete_hint(plan.target)}"
                )
            self._sleep(self._poll)

    def verify(self, plan: RestorePlan, facts: ClusterFacts,
               counter: RowCounter | None) -> tuple[list[Check], Mapping[str, int | None] | None, str]:
        checks = [
            Check("available", facts.status == "available" and len(facts.instances) == len(plan.instances)
                  and all(i.status == "available" for i in facts.instances),
                  f"cluster {facts.status}, {len(facts.instances)} of {len(plan.instances)} instances available"),
            Check("encrypted", facts.storage_encrypted and same_key(facts.kms_key_id, plan.kms_key_id),
                  f"storage encrypted with {facts.kms_key_id} (expected {plan.kms_key_id})"),
            Check("tls-enforced", facts.parameter_group == plan.parameter_group and facts.force_ssl == "1",
                  f"parameter group {facts.parameter_group}, rds.force_ssl={facts.force_ssl}"),
            Check("network", facts.subnet_group == plan.subnet_group
                  and set(facts.security_groups) == set(plan.security_groups),
                  f"subnet group {facts.subnet_group}, security groups {', '.join(facts.security_groups)}"),
            Check("iam-auth", facts.iam_auth == plan.iam_auth, f"IAM authentication {facts.iam_auth}"),
            Check("deletion-protection", facts.deletion_protection == plan.deletion_protection,
                  f"deletion protection {facts.deletion_protection}"),
        ]
        counts: Mapping[str, int | None] | None = None
        note = "row counts skipped: no database connection configured"
        if counter is not None and facts.endpoint:
            try:
                counts = counter.counts(facts.endpoint, facts.port)
                note = "row counts read through the runtime (jobs role, verified TLS)"
            except PlatformError as exc:
                note = f"row counts skipped: the restored cluster is not reachable from here ({exc})"
        if counts is not None:
            head = counts.get("audit_chain_head")
            checks.append(Check("audit-trail", head is not None and head >= 0,
                                f"audit chain head at position {head}"))
        return checks, counts, note

    # --- all of it -------------------------------------------------------------------------------------

    def apply(self, plan: RestorePlan, *, counter: RowCounter | None = None) -> Applied:
        timings: dict[str, float] = {}

        def timed(name: str, started: float) -> None:
            timings[name] = self._timer() - started

        t = self._timer()
        resumed = self.start(plan)
        timed("restore", t)
        t = self._timer()
        self.add_instances(plan)
        timed("instances", t)
        t = self._timer()
        facts = self.wait_available(plan)
        timed("wait", t)
        t = self._timer()
        checks, counts, note = self.verify(plan, facts, counter)
        timed("verify", t)
        applied = Applied(plan, facts, tuple(checks), resumed, counts, note, timings)
        if not applied.ok:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
            raise RestoreVerificationError(
                f"the restored cluster {plan.target} is up but failed verification ({failed}). Do NOT cut over to it. "
                f"Fix it (e.g. aws rds modify-db-cluster) and run the same command again to re-verify, "
                f"{_delete_hint(plan.target)}"
            )
        return applied

    def remove(self, target: str, *, instances: list[str]) -> None:
        """Delete a restored cluster and its instances, and wait until it is gone (drill cleanup)."""
        for identifier in instances:
            self._clusters.delete_instance(identifier)
        self._clusters.delete_cluster(target)
        deadline = self._clock() + self._timeout
        while self._clusters.exists(target):
            if self._clock() >= deadline:
                raise RestoreStepError(f"{target} is still being deleted after {self._timeout}; check it later")
            self._sleep(self._poll)
        self._progress(f"{target} deleted")


def cut_over_steps(plan: RestorePlan, restored: ClusterFacts) -> list[str]:
    """What an operator does next, in order. The restored cluster is a copy: nothing has switched yet."""
    old = f"{plan.source}-replaced-{datetime.now(UTC):%Y%m%d%H%M}"[:63]
    return [
        f"Stop writes to {plan.source}: set the data service's desired count to 0 (aws ecs update-service "
        "--cluster <ecs cluster> --service <data service> --desired-count 0; names in the stack outputs).",
        f"From a lifecycle job task pointed at {restored.endpoint} (PLATFORM_DATABASE_HOST), run "
        "`python -m runtime audit verify` and `python -m runtime db self-check --mode job`; compare the row counts "
        "above with what you expect at the restore time.",
        "Replay the erasures (P10): the restored data predates some of them. Run `python -m runtime erase "
        "register` against the live database, then `python -m runtime erase --org ORG` against the restored one "
        "for every organisation it lists.",
        f"Swap names so every task keeps its endpoint: aws rds modify-db-cluster --db-cluster-identifier "
        f"{plan.source} --new-db-cluster-identifier {old} --apply-immediately; wait until it is available; then "
        f"aws rds modify-db-cluster --db-cluster-identifier {plan.target} --new-db-cluster-identifier {plan.source} "
        "--apply-immediately (the endpoint names follow the identifier).",
        "Turn deletion protection on for the restored cluster if it is off, and run `cdk diff` for the data stack: "
        "it must show no replacement of the cluster.",
        "Start the services again (desired count back), watch the incident topic and the health checks.",
        f"Keep {old} until the restore is accepted; then snapshot it and delete it. Record the restore time, the "
        "reason and who approved it (P11).",
    ]
