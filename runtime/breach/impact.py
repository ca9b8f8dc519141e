"""Who a breach affected, from the in-scope audit events (P12, P14). Pure: the adapters aggregate the events
(runtime/breach/trail.py), this module decides who is impacted and with which data classes.

- An organisation is impacted when at least one in-scope event concerns its data.
- Its data classes are the tables of those events.
- Each of its users is impacted with the organisation's data classes, except the `users` table (their own
  account details), which counts for a user only when that user's own row was touched, or when a touching
  event lists rows as a count only (we cannot rule anyone out). A user left with no data class is not impacted.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

USERS_TABLE: Final = "users"


@dataclass(frozen=True, slots=True)
class TableImpact:
    """The in-scope events of one organisation on one table, aggregated."""

    owner_id: uuid.UUID
    table: str
    events: int
    rows: int
    first_at: datetime
    last_at: datetime
    actions: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserRowsTouched:
    """Rows of one organisation's `users` table the in-scope events touched."""

    owner_id: uuid.UUID
    user_ids: frozenset[uuid.UUID]
    unlisted: bool  # some event gave a row count without ids


@dataclass(frozen=True, slots=True)
class OrganisationImpact:
    owner_id: uuid.UUID
    tables: Mapping[str, TableImpact]
    touched_users: frozenset[uuid.UUID] = frozenset()
    all_users_touched: bool = False

    @property
    def events(self) -> int:
        return sum(t.events for t in self.tables.values())

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def tables_for(self, user_id: uuid.UUID) -> tuple[str, ...]:
        """The data classes (tables) of this organisation that concern `user_id`; empty: not impacted."""
        names = set(self.tables) - {USERS_TABLE}
        if USERS_TABLE in self.tables and (self.all_users_touched or user_id in self.touched_users):
            names.add(USERS_TABLE)
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class ImpactedUser:
    owner_id: uuid.UUID
    user_id: uuid.UUID
    tables: tuple[str, ...]

    @property
    def own_account(self) -> bool:
        return USERS_TABLE in self.tables


@dataclass(frozen=True, slots=True)
class Impact:
    organisations: Mapping[uuid.UUID, OrganisationImpact]
    users: tuple[ImpactedUser, ...] = ()
    # `users` rows the events touched that no longer exist (erased or removed since): reported, not notifiable.
    vanished_users: int = 0
    events: int = field(default=0)

    @property
    def organisation_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self.organisations)


def organisations_from(
    tables: Iterable[TableImpact],
    touched: Iterable[UserRowsTouched] = (),
    *,
    keys: frozenset[uuid.UUID] = frozenset(),
) -> dict[uuid.UUID, OrganisationImpact]:
    """Group the aggregated rows per organisation. With a key filter, an unlisted `users` event may have
    touched any of the keys, so all of them count as touched (the caller intersects with real users)."""
    by_owner: dict[uuid.UUID, dict[str, TableImpact]] = {}
    for t in tables:
        by_owner.setdefault(t.owner_id, {})[t.table] = t
    user_rows: dict[uuid.UUID, tuple[set[uuid.UUID], bool]] = {}
    for u in touched:
        ids, unlisted = user_rows.setdefault(u.owner_id, (set(), False))
        ids.update(u.user_ids)
        user_rows[u.owner_id] = (ids, unlisted or u.unlisted)
    result: dict[uuid.UUID, OrganisationImpact] = {}
    for owner, owner_tables in by_owner.items():
        ids, unlisted = user_rows.get(owner, (set(), False))
        if unlisted and keys:
            ids, unlisted = ids | keys, False
        result[owner] = OrganisationImpact(owner, dict(owner_tables), frozenset(ids), unlisted)
    return result


def impacted_users(
    organisations: Mapping[uuid.UUID, OrganisationImpact],
    users_of: Mapping[uuid.UUID, Sequence[uuid.UUID]],
) -> tuple[tuple[ImpactedUser, ...], int]:
    """Every impacted user (sorted by organisation, then user), and how many touched user rows are gone."""
    impacted: list[ImpactedUser] = []
    vanished = 0
    for owner in sorted(organisations):
        org = organisations[owner]
        members = set(users_of.get(owner, ()))
        for user_id in sorted(members):
            tables = org.tables_for(user_id)
            if tables:
                impacted.append(ImpactedUser(owner, user_id, tables))
        if USERS_TABLE in org.tables and not org.all_users_touched:
            vanished += len(org.touched_users - members)
    return tuple(impacted), vanished


def build_impact(
    tables: Iterable[TableImpact],
    touched: Iterable[UserRowsTouched],
    users_of: Mapping[uuid.UUID, Sequence[uuid.UUID]],
    *,
    keys: frozenset[uuid.UUID] = frozenset(),
) -> Impact:
    organisations = organisations_from(tables, touched, keys=keys)
    users, vanished = impacted_users(organisations, users_of)
    # With a key filter every key is a candidate user id, so keys that are not users are not "vanished".
    return Impact(organisations, users, 0 if keys else vanished, sum(o.events for o in organisations.values()))
