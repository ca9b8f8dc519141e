"""An incident and a claimed outbox row, as the procedure and the report see them. Pure."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.breach.content import IncidentFacts
from runtime.breach.deadline import Deadline


@dataclass(frozen=True, slots=True)
class Incident:
    id: uuid.UUID
    declared_at: datetime
    due_at: datetime
    window_start: datetime
    window_end: datetime
    scope: Mapping[str, Any]
    summary: str
    mitigations: tuple[str, ...]
    contact: str
    chain: Mapping[str, Any] | None
    impacted_organisations: int | None
    impacted_users: int | None
    impacted_events: int | None
    vanished_users: int | None
    assessed_at: datetime | None
    completed_at: datetime | None
    overdue_alerted_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Incident":
        values = dict(row)
        values["mitigations"] = tuple(values["mitigations"] or ())
        return cls(**values)

    @property
    def deadline(self) -> Deadline:
        return Deadline(self.declared_at, self.due_at - self.declared_at)

    def facts(self) -> IncidentFacts:
        return IncidentFacts(self.id, self.declared_at, self.window_start, self.window_end, self.summary,
                             self.mitigations, self.contact)


@dataclass(frozen=True, slots=True)
class Claimed:
    owner_id: uuid.UUID
    user_id: uuid.UUID
    data_classes: tuple[str, ...]
    attempts: int
    claim: uuid.UUID
