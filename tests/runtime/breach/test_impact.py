"""Impact from a synthetic audit trail with many organisations: every scope (time, table, actor, organisation,
key, and combinations) gives exactly the impacted set an independent computation in this file gives (P12, P14)."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest

from runtime.audit.events import AccessEvent, Action
from runtime.breach.scope import BreachScope
from runtime.breach.synthetic import SyntheticOrganisation, append_events, bracket, seed_organisations
from tests.runtime.breach.conftest import BreachDb, Responder

pytestmark = pytest.mark.postgres

A1, A2 = uuid.uuid4(), uuid.uuid4()  # two compromised actors
NORMAL = [uuid.uuid4() for _ in range(3)]
TABLES = ("prompts", "model_calls", "datasets", "dataset_items", "evaluation_results", "users", "organisations")


@dataclass
class Trail:
    orgs: list[SyntheticOrganisation]
    window: list[datetime]  # [start, end) of the staged activity
    middle: list[datetime]  # a sub-window inside it
    events: list[AccessEvent]  # in-window events, in order
    middle_events: list[AccessEvent]
    gone_user: uuid.UUID


def _event(actor: uuid.UUID, owner: uuid.UUID, table: str, rows: Sequence[uuid.UUID], count: int = -1,
           action: Action = Action.READ) -> AccessEvent:
    return AccessEvent(actor, owner, action, table, tuple(rows), "req-synthetic", count)


@pytest.fixture(scope="module")
def trail(breach_db: BreachDb) -> Trail:
    rng = random.Random(9)  # noqa: S311
    orgs = seed_organisations(breach_db.app_database, breach_db.records, count=40, users_per_organisation=3,
                              tag="impact")
    ledger, app = breach_db.ledger, breach_db.app

    def noise(targets: Sequence[SyntheticOrganisation], n: int) -> list[AccessEvent]:
        return [_event(rng.choice(NORMAL), rng.choice(targets).owner_id, rng.choice(TABLES[:5]), [uuid.uuid4()],
                       action=rng.choice(list(Action))) for _ in range(n)]

    before = [_event(A1, o.owner_id, "prompts", o.rows["prompts"]) for o in orgs[20:30]] + noise(orgs, 30)
    append_events(app, ledger, before)
    gone_user = uuid.uuid4()
    with bracket(app) as window:
        events: list[AccessEvent] = []
        batch = [_event(A1, o.owner_id, "prompts", o.rows["prompts"]) for o in orgs[0:10]]
        batch += [_event(A1, o.owner_id, "users", [o.user_ids[0]]) for o in orgs[0:10:3]]
        batch += noise(orgs[10:], 20)
        append_events(app, ledger, batch)
        events += batch
        with bracket(app) as middle:
            batch = [_event(A2, o.owner_id, "model_calls", [uuid.uuid4(), uuid.uuid4()], action=Action.WRITE)
                     for o in orgs[5:15]]
            # A bulk event that lists no ids: every user of org 12 may be in it.
            batch.append(_event(A2, orgs[12].owner_id, "users", [], count=50, action=Action.ERASE))
            # A user row that no longer exists.
            batch.append(_event(A2, orgs[13].owner_id, "users", [gone_user]))
            batch += noise(orgs[10:], 20)
            for chunk in (batch[:12], batch[12:]):  # two appends: the ledger checkpoints every 50 events
                append_events(app, ledger, chunk)
            middle_events = list(batch)
            events += batch
        batch = [_event(A1, orgs[16].owner_id, "organisations", [orgs[16].owner_id]),
                 _event(NORMAL[0], orgs[17].owner_id, "users", orgs[17].user_ids[:2]),
                 _event(NORMAL[1], orgs[18].owner_id, "evaluation_results", [uuid.uuid4()], count=3)]
        batch += noise(orgs, 25)
        append_events(app, ledger, batch)
        events += batch
    after = [_event(A1, o.owner_id, "prompts", o.rows["prompts"]) for o in orgs[30:40]] + noise(orgs, 30)
    append_events(app, ledger, after)
    return Trail(orgs, window, middle, events, middle_events, gone_user)


# --- the independent computation -------------------------------------------------------------------------


Impacted = set[tuple[uuid.UUID, uuid.UUID, frozenset[str]]]


def expected_impact(events: Sequence[AccessEvent], scope: BreachScope,
                    users_of: dict[uuid.UUID, tuple[uuid.UUID, ...]]) -> Impacted:
    tables: dict[uuid.UUID, set[str]] = defaultdict(set)
    own: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for e in events:
        if scope.tables and e.table not in scope.tables:
            continue
        if scope.actors and e.actor_id not in scope.actors:
            continue
        if scope.organisations and e.owner_id not in scope.organisations:
            continue
        unlisted = e.row_count > len(e.row_ids)
        if scope.keys and not (set(e.row_ids) & scope.keys) and not unlisted:
            continue
        tables[e.owner_id].add(e.table)
        if e.table == "users":
            if unlisted:
                own[e.owner_id] |= set(users_of[e.owner_id]) if not scope.keys else set(scope.keys)
            touched = set(e.row_ids) & scope.keys if scope.keys else set(e.row_ids)
            own[e.owner_id] |= touched
    result = set()
    for owner, names in tables.items():
        for user in users_of[owner]:
            mine = set(names) - {"users"}
            if "users" in names and user in own[owner]:
                mine.add("users")
            if mine:
                result.add((owner, user, frozenset(mine)))
    return result


def _scopes(t: Trail) -> dict[str, Callable[[], BreachScope]]:
    start, end = t.window
    o = t.orgs
    return {
        "time": lambda: BreachScope(start, end),
        "sub-window": lambda: BreachScope(t.middle[0], t.middle[1]),
        "table": lambda: BreachScope(start, end, tables=frozenset({"prompts"})),
        "tables-users": lambda: BreachScope(start, end, tables=frozenset({"users", "organisations"})),
        "actor": lambda: BreachScope(start, end, actors=frozenset({A1})),
        "organisations": lambda: BreachScope(start, end, organisations=frozenset({o[3].owner_id, o[12].owner_id})),
        "keys": lambda: BreachScope(start, end, keys=frozenset({o[4].rows["prompts"][0], o[6].user_ids[0],
                                                                o[17].user_ids[1]})),
        "actors-and-tables": lambda: BreachScope(start, end, actors=frozenset({A1, A2}),
                                                 tables=frozenset({"users", "model_calls"})),
        "nothing": lambda: BreachScope(start, end, actors=frozenset({uuid.uuid4()})),
    }


SCOPES = ["time", "sub-window", "table", "tables-users", "actor", "organisations", "keys", "actors-and-tables",
          "nothing"]


@pytest.mark.parametrize("name", SCOPES)
def test_impact_scope_matches_independent_computation(
    name: str, trail: Trail, make_responder: Callable[..., Responder]
) -> None:
    scope = _scopes(trail)[name]()
    events = trail.middle_events if name == "sub-window" else trail.events
    users_of = {o.owner_id: o.user_ids for o in trail.orgs}
    expected = expected_impact(events, scope, users_of)

    declared = make_responder().response.declare(scope, "Synthetic incident for the impact test.")

    got = {(u.owner_id, u.user_id, frozenset(u.tables)) for u in declared.impact.users}
    assert got == expected
    assert declared.verification.ok, declared.verification.describe()
    assert declared.impact.organisation_ids >= {owner for owner, _, _ in expected}
    assert declared.added == len(expected)
    assert declared.incident.impacted_users == len(expected)


def test_impact_time_scope_counts_everything_in_the_window(trail: Trail,
                                                          make_responder: Callable[..., Responder]) -> None:
    scope = BreachScope(trail.window[0], trail.window[1], tables=frozenset({"prompts", "model_calls"}))
    declared = make_responder().response.declare(scope, "Synthetic incident: counting events.")
    counted = sum(o.events for o in declared.impact.organisations.values())
    assert counted == sum(1 for e in trail.events if e.table in scope.tables)
    # Organisations 0-9 were read by A1 in the window; 20-29 and 30-39 only before or after it.
    impacted = declared.impact.organisation_ids
    assert {o.owner_id for o in trail.orgs[0:10]} <= impacted


def test_impact_vanished_user_rows_are_reported(trail: Trail, make_responder: Callable[..., Responder]) -> None:
    scope = BreachScope(trail.middle[0], trail.middle[1], tables=frozenset({"users"}))
    declared = make_responder().response.declare(scope, "Synthetic incident: a user row that is gone.")
    assert declared.impact.vanished_users == 1
    assert declared.incident.vanished_users == 1
    assert all(u.user_id != trail.gone_user for u in declared.impact.users)
