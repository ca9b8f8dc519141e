"""The outbox and delivery (P12): one notification per impacted user, never sent twice, failures retried and
visible, in-doubt rows resent only on request; the 24-hour clock and the overdue flag with an injected clock;
a tampered audit trail is reported as part of the incident."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from runtime.audit.events import AccessEvent, Action
from runtime.breach.outbox import RetryPolicy
from runtime.breach.scope import BreachScope
from runtime.breach.synthetic import (
    SyntheticOrganisation,
    append_events,
    attacker_reads,
    bracket,
    seed_organisations,
)
from runtime.errors import IncidentNotFoundError
from tests.runtime.breach.conftest import BreachDb, RecordingNotifier, Responder
from tests.support.audit_trail import sequence

pytestmark = pytest.mark.postgres


def _stage(breach_db: BreachDb, count: int = 4) -> tuple[BreachScope, list[SyntheticOrganisation]]:
    """`count` fresh organisations whose prompts an attacker read; the scope of that read."""
    orgs = seed_organisations(breach_db.app_database, breach_db.records, count=count, users_per_organisation=2,
                              tag=uuid.uuid4().hex[:6])
    attacker = uuid.uuid4()
    with bracket(breach_db.app) as window:
        append_events(breach_db.app, breach_db.ledger,
                      attacker_reads(orgs, attacker, request="req-attack", rng=random.Random(1)))  # noqa: S311
    return BreachScope(window[0], window[1], actors=frozenset({attacker})), orgs


def test_delivery_sends_one_notification_per_impacted_user_and_never_twice(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, orgs = _stage(breach_db)
    r = make_responder()
    declared = r.response.declare(scope, "An access key of a support tool was misused to read stored prompts.")
    assert declared.created and declared.added == 8

    first = r.response.deliver(declared.incident.id)
    again = r.response.deliver(declared.incident.id)
    redeclared = r.response.declare(scope, "An access key of a support tool was misused to read stored prompts.")

    assert first.sent == 8 and first.counts.complete
    assert again.sent == 0 and len(r.notifier.sent) == 8
    assert not redeclared.created and redeclared.added == 0 and redeclared.incident.id == declared.incident.id
    assert redeclared.incident.declared_at == declared.incident.declared_at  # the clock did not restart
    addresses = {o.addresses[u] for o in orgs for u in o.user_ids}
    assert {n.address.reveal() for n in r.notifier.sent} == addresses
    assert len({n.idempotency_key for n in r.notifier.sent}) == 8
    assert r.response.deliver(declared.incident.id).sent == 0


def test_delivery_message_names_data_classes_consequences_mitigations_and_contact_only(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, _ = _stage(breach_db, count=1)
    r = make_responder()
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.",
                                  ["We revoked the key and rotated every credential of the tool."])
    r.response.deliver(declared.incident.id)
    text = r.notifier.sent[0].message.text
    assert "your stored prompt templates" in text
    assert "may have been read" in text
    assert "We revoked the key" in text and "rotate any credential" in text
    assert "security@operator.example" in text and declared.incident.facts().reference in text
    for n in r.notifier.sent:  # neither the organisation's nor the user's name or address is in the message
        assert n.address.reveal() not in n.message.text
        assert "Drill organisation" not in n.message.text and "Drill user" not in n.message.text


def test_delivery_reads_addresses_through_the_audited_record_api(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, orgs = _stage(breach_db, count=1)
    r = make_responder()
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    r.response.deliver(declared.incident.id)
    with breach_db.db.connect("platform_jobs") as conn:
        rows = conn.execute(
            "SELECT actor_id, fields->>'table', fields->>'request_id' FROM support.audit_events "
            "WHERE owner_id = %s AND fields->>'action' = 'read' AND fields->>'table' = 'users' ORDER BY id DESC",
            (orgs[0].owner_id,)).fetchall()
    from runtime.breach.directory import BREACH_ACTOR

    assert (BREACH_ACTOR, "users", str(declared.incident.id)) in rows


def test_delivery_retries_retryable_failures_until_sent(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, _ = _stage(breach_db, count=2)
    r = make_responder(RecordingNotifier(fail_first=2))
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    delivery = r.response.deliver(declared.incident.id)
    assert delivery.sent == 4 and delivery.failed_attempts == 8 and delivery.gave_up == 0
    assert delivery.counts.complete
    assert r.clock.slept[:2] == [2.0, 4.0]  # exponential backoff between rounds, on the injected clock
    assert all(n == 3 for n in r.notifier.attempts.values())


def test_delivery_failures_are_visible_and_retried_on_request(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, _ = _stage(breach_db, count=1)
    failing = RecordingNotifier(fail_first=99, retryable=False, code="MessageRejected")
    r = make_responder(failing)
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    delivery = r.response.deliver(declared.incident.id)
    status = r.response.status(declared.incident.id)

    assert delivery.gave_up == 2 and status.counts.failed == 2 and status.counts.sent == 0
    assert "2 failed for good" in status.describe() and "--retry-failed" in status.describe()
    assert any("failed" in subject for subject, _ in r.alerts.alerts)
    rows = r.store.notifications(declared.incident.id)
    assert {row["last_error"] for row in rows} == {"MessageRejected"}

    failing.fail_first = 0  # the cause is fixed
    retried = r.response.deliver(declared.incident.id, retry_failed=True)
    assert retried.sent == 2 and retried.counts.complete


def test_delivery_gives_up_after_max_attempts(breach_db: BreachDb,
                                              make_responder: Callable[..., Responder]) -> None:
    scope, _ = _stage(breach_db, count=1)
    r = make_responder(RecordingNotifier(fail_first=99), policy=RetryPolicy(max_attempts=3))
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    delivery = r.response.deliver(declared.incident.id)
    assert delivery.gave_up == 2 and delivery.counts.failed == 2
    assert all(n == 3 for n in r.notifier.attempts.values())


def test_delivery_in_doubt_rows_are_not_resent_without_asking(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, _ = _stage(breach_db, count=1)
    r = make_responder()
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    # A delivery run claims the rows and dies before settling them.
    claimed = r.store.claim(declared.incident.id, now=r.clock(), limit=10, policy=r.response.policy)
    assert len(claimed) == 2
    r.clock.advance(timedelta(minutes=20))  # past the lease

    assert r.response.deliver(declared.incident.id).sent == 0
    status = r.response.status(declared.incident.id)
    assert status.counts.in_doubt == 2 and "--resend-in-doubt" in status.describe()

    resent = r.response.deliver(declared.incident.id, resend_in_doubt=True)
    assert resent.sent == 2 and resent.counts.complete


def test_status_counts_time_left_and_flags_overdue_loudly(
    breach_db: BreachDb, make_responder: Callable[..., Responder]
) -> None:
    scope, _ = _stage(breach_db, count=1)
    r = make_responder()
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    r.clock.advance(timedelta(hours=5))
    early = r.response.status(declared.incident.id)
    assert not early.overdue and early.time_left == timedelta(hours=19)
    assert "time left of the 24 hours: 19h 00m" in early.describe()
    assert "pending 2" in early.describe()

    r.clock.advance(timedelta(hours=20))
    late = r.response.status(declared.incident.id)
    assert late.overdue and "OVERDUE by 1h 00m" in late.describe()
    overdue_alerts = [a for a in r.alerts.alerts if a[0].startswith("OVERDUE")]
    assert len(overdue_alerts) == 1 and "2 users not notified" in overdue_alerts[0][0]

    r.clock.advance(timedelta(minutes=10))  # alerts to the topic at most hourly
    r.response.status(declared.incident.id)
    assert len([a for a in r.alerts.alerts if a[0].startswith("OVERDUE")]) == 1
    r.clock.advance(timedelta(hours=1))
    r.response.status(declared.incident.id)
    assert len([a for a in r.alerts.alerts if a[0].startswith("OVERDUE")]) == 2

    r.response.deliver(declared.incident.id)
    done = r.response.status(declared.incident.id)
    assert not done.overdue and "complete" in done.describe()


def test_status_of_an_unknown_incident_says_so(make_responder: Callable[..., Responder]) -> None:
    with pytest.raises(IncidentNotFoundError, match="breach declare"):
        make_responder().response.status(uuid.uuid4())


def test_declare_reports_a_tampered_audit_trail(breach_db: BreachDb,
                                                make_responder: Callable[..., Responder]) -> None:
    scope, orgs = _stage(breach_db, count=2)
    sequence(breach_db.db)  # the sequencer service chains the queued events
    # Someone with superuser rights edits an event inside the window, bypassing the append-only trigger.
    with breach_db.db.admin() as admin, admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")
        position = admin.execute(
            "SELECT min(seq) FROM platform.audit_events WHERE at >= %s AND at < %s", (scope.start, scope.end)
        ).fetchone()[0]  # type: ignore[index]
        admin.execute("UPDATE platform.audit_events SET owner_id = %s WHERE seq = %s", (uuid.uuid4(), position))
    r = make_responder()
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")

    assert not declared.verification.ok
    assert declared.verification.report.position == position
    assert f"BROKEN at position {position} (edited)" in declared.verification.describe()
    assert declared.incident.chain is not None and declared.incident.chain["ok"] is False
    assert any("audit chain" in text for _, text in r.alerts.alerts)
    assert "BROKEN" in r.response.status(declared.incident.id).describe()
    # The procedure still runs on what the trail says: the other organisation's users are impacted.
    assert {u.owner_id for u in declared.impact.users} >= {orgs[1].owner_id}
    with breach_db.db.admin() as admin, admin.transaction():  # repair for the tests that follow
        admin.execute("SET LOCAL session_replication_role = replica")
        admin.execute("UPDATE platform.audit_events SET owner_id = %s WHERE seq = %s", (orgs[0].owner_id, position))


def test_declare_refuses_personal_data_in_the_summary(make_responder: Callable[..., Responder],
                                                      breach_db: BreachDb) -> None:
    from runtime.errors import InvalidScopeError

    scope, _ = _stage(breach_db, count=1)
    with pytest.raises(InvalidScopeError, match="email") as caught:
        make_responder().response.declare(scope, "jane.doe@example.com reported the leak")
    assert "jane.doe" not in str(caught.value)


def test_declare_without_alerts_configured_still_works(breach_db: BreachDb,
                                                       make_responder: Callable[..., Responder]) -> None:
    scope, _ = _stage(breach_db, count=1)
    r = make_responder(alerts=False)
    declared = r.response.declare(scope, "Stored prompts were read by a misused key.")
    assert declared.added == 2 and not declared.warnings


def test_events_outside_actor_scope_are_not_counted(breach_db: BreachDb,
                                                    make_responder: Callable[..., Responder]) -> None:
    orgs = seed_organisations(breach_db.app_database, breach_db.records, count=2, users_per_organisation=1,
                              tag="bystander")
    attacker, bystander = uuid.uuid4(), uuid.uuid4()
    with bracket(breach_db.app) as window:
        append_events(breach_db.app, breach_db.ledger, [
            AccessEvent(attacker, orgs[0].owner_id, Action.READ, "prompts", orgs[0].rows["prompts"], "req-a"),
            AccessEvent(bystander, orgs[1].owner_id, Action.READ, "prompts", orgs[1].rows["prompts"], "req-b"),
        ])
    declared = make_responder().response.declare(BreachScope(window[0], window[1], actors=frozenset({attacker})),
                                                 "Stored prompts were read by a misused key.")
    assert {u.owner_id for u in declared.impact.users} == {orgs[0].owner_id}
