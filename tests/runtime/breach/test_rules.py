"""The pure rules of breach response: scope checks, notification content, the deadline, the retry policy,
and who is impacted within an organisation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runtime.breach.content import IncidentFacts, check_operator_text, notice_for, render
from runtime.breach.deadline import Deadline, format_duration
from runtime.breach.impact import OrganisationImpact, TableImpact, build_impact
from runtime.breach.outbox import RetryPolicy
from runtime.breach.scope import BreachScope
from runtime.errors import InvalidScopeError

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=6)


def test_scope_rejects_naive_reversed_and_overlong_windows() -> None:
    with pytest.raises(InvalidScopeError, match="zone"):
        BreachScope(datetime(2026, 11, 2), T1)
    with pytest.raises(InvalidScopeError, match="end after"):
        BreachScope(T1, T0)
    with pytest.raises(InvalidScopeError, match="ten years"):
        BreachScope(T0 - timedelta(days=4000), T1)


def test_scope_rejects_tables_without_sensitive_data() -> None:
    with pytest.raises(InvalidScopeError, match="audit_events, no_such_table"):
        BreachScope(T0, T1, tables=frozenset({"audit_events", "no_such_table", "prompts"})).check_tables()
    BreachScope(T0, T1, tables=frozenset({"prompts", "users"})).check_tables()


def test_scope_fingerprint_ignores_order_and_changes_with_any_filter() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    one = BreachScope(T0, T1, actors=frozenset({a, b}))
    assert one.fingerprint() == BreachScope(T0, T1, actors=frozenset({b, a})).fingerprint()
    assert one.fingerprint() != BreachScope(T0, T1, actors=frozenset({a})).fingerprint()
    assert one.fingerprint() != BreachScope(T0, T1 + timedelta(seconds=1), actors=frozenset({a, b})).fingerprint()


@pytest.mark.parametrize("text", ["call +44 20 7946 0958 now", "mail jane@example.com", "card 4111 1111 1111 1111",
                                  "from 203.0.113.7", "key AKIAIOSFODNN7EXAMPLE leaked"])
def test_operator_text_with_personal_data_or_secrets_is_refused_without_echo(text: str) -> None:
    with pytest.raises(InvalidScopeError) as caught:
        check_operator_text(text, "--summary")
    assert text not in str(caught.value)


def test_operator_text_prose_is_accepted_and_normalised() -> None:
    assert check_operator_text("  A support key\nwas misused.  ", "--summary") == "A support key was misused."
    with pytest.raises(InvalidScopeError, match="empty"):
        check_operator_text("   ", "--summary")


def test_render_lists_each_data_class_with_consequence_and_mitigation() -> None:
    facts = IncidentFacts(uuid.uuid4(), T1, T0, T1, "A support key was misused.", ("We revoked the key.",),
                          "https://status.operator.example/security")
    message = render(facts, ["users", "model_calls"])
    for table in ("users", "model_calls"):
        notice = notice_for(table)
        assert notice.label in message.text and notice.consequence in message.text
        assert notice.mitigation in message.text
    assert facts.reference in message.subject and "https://status.operator.example/security" in message.text
    assert "2026-11-02 08:00 UTC to 2026-11-02 14:00 UTC" in message.text


def test_notice_for_an_undescribed_table_falls_back_to_the_registry() -> None:
    assert notice_for("telemetry_events").label.startswith("operational telemetry")


def test_deadline_time_left_and_overdue() -> None:
    deadline = Deadline(T0)
    assert deadline.due_at == T0 + timedelta(hours=24)
    assert deadline.time_left(T0 + timedelta(hours=23, minutes=30)) == timedelta(minutes=30)
    assert not deadline.overdue(T0 + timedelta(hours=25), complete=True)
    assert deadline.overdue(T0 + timedelta(hours=25), complete=False)
    assert format_duration(timedelta(hours=5, minutes=7)) == "5h 07m"
    assert format_duration(-timedelta(hours=1, minutes=30)) == "-1h 30m"
    assert format_duration(timedelta(seconds=42)) == "0m 42s"


def test_retry_policy_backs_off_exponentially_and_gives_up() -> None:
    policy = RetryPolicy(max_attempts=4)
    assert [policy.backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (2, 4, 8)]
    assert policy.after_failure(1, T0, retryable=True) == T0 + timedelta(seconds=2)
    assert policy.after_failure(4, T0, retryable=True) is None
    assert policy.after_failure(1, T0, retryable=False) is None
    assert RetryPolicy(max_attempts=30).backoff(29) == timedelta(minutes=5)


def _tables(owner: uuid.UUID, *names: str) -> list[TableImpact]:
    return [TableImpact(owner, n, 1, 1, T0, T0, frozenset({"read"})) for n in names]


def test_impact_own_account_only_for_touched_users() -> None:
    owner, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    org = OrganisationImpact(owner, {t.table: t for t in _tables(owner, "users")}, frozenset({alice}))
    assert org.tables_for(alice) == ("users",) and org.tables_for(bob) == ()
    from runtime.breach.impact import UserRowsTouched

    impact = build_impact(_tables(owner, "users", "prompts"), [UserRowsTouched(owner, frozenset({alice}), False)],
                          {owner: [alice, bob]})
    assert {(u.user_id, u.tables) for u in impact.users} == {(alice, ("prompts", "users")), (bob, ("prompts",))}
