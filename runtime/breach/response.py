"""The breach procedure (P12): declare (verify the trail, compute the impact, fill the outbox), deliver (send
what is due, retry failures, never twice), status (counts and the 24-hour clock, overdue alerts).

Pure orchestration over injected ports: the store, the audit trail, the user directory, the notifier and the
incident alerts; adapters are in store.py, trail.py, directory.py, notifiers.py and aws.py. The clock is
injected too, so the deadline can be tested without waiting a day.
"""

import itertools
import string
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from runtime.audit.chain import ChainKey
from runtime.breach.chain_window import WindowVerification
from runtime.breach.content import check_operator_text, render
from runtime.breach.deadline import NOTIFY_WITHIN, format_duration
from runtime.breach.impact import Impact, TableImpact, UserRowsTouched, build_impact
from runtime.breach.incident import Claimed, Incident
from runtime.breach.notifiers import IncidentAlerts, Notifier, Outgoing
from runtime.breach.outbox import Counts, RetryPolicy
from runtime.breach.scope import BreachScope
from runtime.classification import Sensitive
from runtime.errors import NotificationError, PlatformError

DEFAULT_BATCH: Final = 500
DEFAULT_MAX_WAIT: Final = timedelta(minutes=10)
OVERDUE_ALERT_EVERY: Final = timedelta(hours=1)
_MESSAGE_ID_CHARS: Final = frozenset(string.ascii_letters + string.digits + "_.:@/=+-")


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- ports -----------------------------------------------------------------------------------------------


class IncidentStore(Protocol):
    def open_incident(self, *, incident_id: uuid.UUID, fingerprint: bytes, declared_at: datetime,
                      due_at: datetime, scope: Mapping[str, object], window: tuple[datetime, datetime],
                      summary: str, mitigations: Sequence[str], contact: str) -> tuple[Incident, bool]: ...

    def get(self, incident_id: uuid.UUID) -> Incident: ...

    def record_assessment(self, incident_id: uuid.UUID, chain: Mapping[str, object], impact: Impact,
                          now: datetime) -> int: ...

    def claim(self, incident_id: uuid.UUID, *, now: datetime, limit: int, policy: RetryPolicy,
              resend_in_doubt: bool = False) -> list[Claimed]: ...

    def settle_sent(self, incident_id: uuid.UUID, item: Claimed, *, now: datetime, message_id: str) -> None: ...

    def settle_failed(self, incident_id: uuid.UUID, item: Claimed, *, code: str,
                      retry_at: datetime | None) -> None: ...

    def reset_failed(self, incident_id: uuid.UUID) -> int: ...

    def counts(self, incident_id: uuid.UUID, *, now: datetime, policy: RetryPolicy) -> Counts: ...

    def next_retry_at(self, incident_id: uuid.UUID) -> datetime | None: ...

    def mark_completed(self, incident_id: uuid.UUID, now: datetime) -> None: ...

    def mark_overdue_alerted(self, incident_id: uuid.UUID, now: datetime) -> None: ...


class AuditTrail(Protocol):
    def snapshot(self) -> AbstractContextManager[None]: ...

    def verify_window(self, key: ChainKey, scope: BreachScope) -> WindowVerification: ...

    def tables_touched(self, scope: BreachScope) -> list[TableImpact]: ...

    def users_touched(self, scope: BreachScope) -> list[UserRowsTouched]: ...


class UserDirectory(Protocol):
    def users_of(self, owners: Iterable[uuid.UUID]) -> Mapping[uuid.UUID, Sequence[uuid.UUID]]: ...

    def addresses(self, incident_id: uuid.UUID, owner_id: uuid.UUID,
                  user_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, Sensitive[str]]: ...


# --- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Declaration:
    incident: Incident
    created: bool
    verification: WindowVerification
    impact: Impact
    added: int  # outbox rows added by this run (0 when the same scope was declared and assessed before)
    timings: Mapping[str, float]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int
    failed_attempts: int
    gave_up: int
    counts: Counts
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Status:
    incident: Incident
    counts: Counts
    now: datetime
    warnings: tuple[str, ...] = field(default=())

    @property
    def time_left(self) -> timedelta:
        return self.incident.deadline.time_left(self.now)

    @property
    def overdue(self) -> bool:
        return self.incident.deadline.overdue(self.now, complete=self.counts.complete)

    def describe(self) -> str:
        inc, c = self.incident, self.counts
        ref = inc.facts().reference
        lines = []
        if self.overdue:
            missing = c.impacted - c.sent
            lines += [
                "!" * 78,
                f"!!! OVERDUE by {format_duration(-self.time_left)}: {missing} of {c.impacted} impacted users NOT "
                "notified",
                f"!!! the 24-hour deadline was {_when(inc.due_at)}",
                "!" * 78,
            ]
        lines += [
            f"incident {ref} ({inc.id})",
            f"  declared {_when(inc.declared_at)}; everyone notified by {_when(inc.due_at)}",
            f"  window {_when(inc.window_start)} to {_when(inc.window_end)}",
        ]
        if inc.chain is not None:
            lines.append(f"  {inc.chain.get('description', '')}")
        if inc.assessed_at is None:
            lines.append("  impact NOT assessed yet: re-run the same `breach declare` command")
        else:
            vanished = f" ({inc.vanished_users} touched user rows no longer exist)" if inc.vanished_users else ""
            lines.append(f"  impacted: {inc.impacted_organisations} organisations, {c.impacted} users{vanished}")
        lines.append(f"  notified {c.sent}, pending {c.pending}, failed {c.failed}, in doubt {c.in_doubt}")
        if c.complete and inc.completed_at is not None:
            took = format_duration(inc.completed_at - inc.declared_at)
            lines.append(f"  complete: every impacted user notified, {took} after the declaration")
        elif c.complete:
            lines.append("  complete: every impacted user notified")
        else:
            lines.append(f"  time left of the 24 hours: {format_duration(self.time_left)}")
        if c.failed:
            lines.append(f"  {c.failed} failed for good: fix the cause (see the report's last_error), then "
                         f"`python -m runtime breach deliver {inc.id} --retry-failed`")
        if c.in_doubt:
            lines.append(f"  {c.in_doubt} in doubt (a delivery run stopped mid-send): check the provider's log, "
                         f"then `python -m runtime breach deliver {inc.id} --resend-in-doubt`")
        if c.pending:
            lines.append(f"  {c.pending} pending: `python -m runtime breach deliver {inc.id}`")
        return "\n".join(lines)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _message_id(raw: str) -> str:
    cleaned = "".join(c for c in raw if c in _MESSAGE_ID_CHARS)[:200]
    return cleaned or "unknown"


# --- the procedure ---------------------------------------------------------------------------------------


class BreachResponse:
    def __init__(
        self,
        *,
        store: IncidentStore,
        trail: AuditTrail,
        directory: UserDirectory,
        notifier: Notifier,
        key: ChainKey,
        contact: str,
        alerts: IncidentAlerts | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.perf_counter,
        policy: RetryPolicy | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._store = store
        self._trail = trail
        self._directory = directory
        self._notifier = notifier
        self._key = key
        # The operator's own published address or URL: it is meant to be in every notification.
        self._contact = " ".join(contact.split())[:200]
        self._alerts = alerts
        self._clock = clock
        self._sleep = sleep
        self._timer = timer
        self.policy = policy or RetryPolicy()
        self._batch = batch

    # --- declare ---------------------------------------------------------------------------------------

    def declare(self, scope: BreachScope, summary: str, mitigations: Sequence[str] = ()) -> Declaration:
        if not self._contact:
            raise PlatformError("set PLATFORM_BREACH_CONTACT: every notification must say how to reach you")
        scope.check_tables()
        summary = check_operator_text(summary, "--summary")
        mitigations = [check_operator_text(m, "--mitigation") for m in mitigations]
        timings: dict[str, float] = {}
        now = self._clock()
        with self._timed(timings, "record"):
            incident, created = self._store.open_incident(
                incident_id=uuid.uuid4(), fingerprint=scope.fingerprint(), declared_at=now,
                due_at=now + NOTIFY_WITHIN, scope=scope.as_document(), window=(scope.start, scope.end),
                summary=summary, mitigations=mitigations, contact=self._contact,
            )
        with self._trail.snapshot():
            with self._timed(timings, "verify_chain"):
                verification = self._trail.verify_window(self._key, scope)
            with self._timed(timings, "impact"):
                tables = self._trail.tables_touched(scope)
                touched = self._trail.users_touched(scope)
        with self._timed(timings, "users"):
            owners = {t.owner_id for t in tables}
            users_of = self._directory.users_of(owners)
            impact = build_impact(tables, touched, users_of, keys=scope.keys)
        with self._timed(timings, "outbox"):
            added = self._store.record_assessment(incident.id, verification.as_document(), impact, self._clock())
            incident = self._store.get(incident.id)
        warnings: list[str] = []
        if created or not verification.ok:
            warnings += self._alert(*self._declared_alert(incident, verification, impact, created))
        return Declaration(incident, created, verification, impact, added, timings, tuple(warnings))

    def _declared_alert(self, incident: Incident, verification: WindowVerification, impact: Impact,
                        created: bool) -> tuple[str, str]:
        ref = incident.facts().reference
        subject = f"Breach {ref} declared" if created else f"Breach {ref}: audit chain problem"
        text = "\n".join([
            f"incident {incident.id}",
            f"impacted organisations: {len(impact.organisations)}, users: {len(impact.users)}",
            f"notify everyone by {_when(incident.due_at)}",
            verification.describe(),
            f"follow it with: python -m runtime breach status {incident.id}",
        ])
        return subject, text

    # --- deliver ---------------------------------------------------------------------------------------

    def deliver(self, incident_id: uuid.UUID, *, resend_in_doubt: bool = False, retry_failed: bool = False,
                max_wait: timedelta = DEFAULT_MAX_WAIT) -> Delivery:
        """Send every due notification; wait (up to `max_wait`) for retries that fall due during the run."""
        incident = self._store.get(incident_id)
        if retry_failed:
            self._store.reset_failed(incident.id)
        stop_waiting_at = self._clock() + max_wait
        sent = failed = gave_up = 0
        first_round = True
        while True:
            batch = self._store.claim(incident.id, now=self._clock(), limit=self._batch, policy=self.policy,
                                      resend_in_doubt=resend_in_doubt and first_round)
            first_round = False
            if not batch:
                due = self._store.next_retry_at(incident.id)
                now = self._clock()
                if due is None or due > stop_waiting_at:
                    break
                self._sleep(max((due - now).total_seconds(), 0.0))
                continue
            for owner, group in itertools.groupby(batch, key=lambda c: c.owner_id):
                s, f, g = self._deliver_owner(incident, owner, list(group))
                sent, failed, gave_up = sent + s, failed + f, gave_up + g
        now = self._clock()
        counts = self._store.counts(incident.id, now=now, policy=self.policy)
        if counts.complete and counts.impacted:
            self._store.mark_completed(incident.id, now)
        warnings: list[str] = []
        if gave_up or counts.failed:
            ref = incident.facts().reference
            warnings += self._alert(
                f"Breach {ref}: {counts.failed} notifications failed",
                f"incident {incident.id}: {counts.sent} of {counts.impacted} notified, {counts.failed} failed for "
                f"good, {counts.pending} pending. See: python -m runtime breach status {incident.id}",
            )
        return Delivery(sent, failed, gave_up, counts, tuple(warnings))

    def _deliver_owner(self, incident: Incident, owner: uuid.UUID, items: list[Claimed]) -> tuple[int, int, int]:
        sent = failed = gave_up = 0
        try:
            addresses = self._directory.addresses(incident.id, owner, [i.user_id for i in items])
        except PlatformError as exc:  # the database or the key service: every row of this owner retries
            for item in items:
                retry_at = self.policy.after_failure(item.attempts, self._clock(), retryable=True)
                self._store.settle_failed(incident.id, item, code=type(exc).__name__, retry_at=retry_at)
                failed, gave_up = failed + 1, gave_up + (retry_at is None)
            return sent, failed, gave_up
        facts = incident.facts()
        for item in items:
            address = addresses.get(item.user_id)
            if address is None:  # erased or removed since the assessment: nobody to reach
                self._store.settle_failed(incident.id, item, code="RecipientNotFound", retry_at=None)
                failed, gave_up = failed + 1, gave_up + 1
                continue
            outgoing = Outgoing(incident.id, owner, item.user_id, address, render(facts, item.data_classes))
            try:
                message_id = self._notifier.send(outgoing)
            except NotificationError as exc:
                retry_at = self.policy.after_failure(item.attempts, self._clock(), retryable=exc.retryable)
                self._store.settle_failed(incident.id, item, code=exc.code, retry_at=retry_at)
                failed, gave_up = failed + 1, gave_up + (retry_at is None)
                continue
            except Exception as exc:  # a notifier bug: visible and retried, never silently in doubt
                retry_at = self.policy.after_failure(item.attempts, self._clock(), retryable=True)
                self._store.settle_failed(incident.id, item, code=type(exc).__name__[:64], retry_at=retry_at)
                failed, gave_up = failed + 1, gave_up + (retry_at is None)
                continue
            self._store.settle_sent(incident.id, item, now=self._clock(), message_id=_message_id(message_id))
            sent += 1
        return sent, failed, gave_up

    # --- status ----------------------------------------------------------------------------------------

    def status(self, incident_id: uuid.UUID) -> Status:
        incident = self._store.get(incident_id)
        now = self._clock()
        counts = self._store.counts(incident.id, now=now, policy=self.policy)
        status = Status(incident, counts, now)
        if not status.overdue:
            return status
        last = incident.overdue_alerted_at
        if last is not None and now - last < OVERDUE_ALERT_EVERY:
            return status
        ref = incident.facts().reference
        warnings = self._alert(
            f"OVERDUE breach {ref}: {counts.impacted - counts.sent} users not notified",
            f"incident {incident.id} passed its 24-hour deadline {_when(incident.due_at)} "
            f"({format_duration(-status.time_left)} ago): {counts.sent} of {counts.impacted} notified, "
            f"{counts.pending} pending, {counts.failed} failed, {counts.in_doubt} in doubt. "
            f"Act now: python -m runtime breach status {incident.id}",
        )
        if self._alerts is not None and not warnings:
            self._store.mark_overdue_alerted(incident.id, now)
        return Status(self._store.get(incident.id), counts, now, tuple(warnings))

    # --- helpers ---------------------------------------------------------------------------------------

    def _alert(self, subject: str, text: str) -> list[str]:
        if self._alerts is None:
            return []
        try:
            self._alerts.alert(subject, text)
        except PlatformError as exc:
            return [f"the incident topic was not told ({exc}); tell the on-call team yourself"]
        return []

    class _Timed:
        def __init__(self, timings: dict[str, float], name: str, timer: Callable[[], float]) -> None:
            self._timings, self._name, self._timer = timings, name, timer
            self._start = 0.0

        def __enter__(self) -> None:
            self._start = self._timer()

        def __exit__(self, *exc: Any) -> None:
            self._timings[self._name] = self._timer() - self._start

    def _timed(self, timings: dict[str, float], name: str) -> "BreachResponse._Timed":
        return BreachResponse._Timed(timings, name, self._timer)
