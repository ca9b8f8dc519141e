"""What a declared breach covers (P12): a time window and optional filters, checked before anything is written.

An audit event is IN SCOPE when its time is inside [start, end) and it matches EVERY filter that is given:
- tables:        the event's table is one of them;
- actors:        its (pseudonymous) actor id is one of them, e.g. a leaked credential's service or user id;
- organisations: its owner is one of them;
- keys:          it touched one of these record keys (row ids), or touched rows it lists only as a count
                 (a bulk erase), which may have included them: when in doubt, notify.
Each filter narrows; no filter means "any". The fingerprint identifies the scope, so declaring the same
scope again resumes the same incident instead of starting a second 24-hour clock.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from runtime.classification import PLATFORM_REGISTRY, DataClass, Registry
from runtime.errors import InvalidScopeError

MAX_WINDOW: Final = timedelta(days=3660)  # ten years: anything longer is a typo


def _ids(values: Iterable[uuid.UUID], what: str) -> frozenset[uuid.UUID]:
    out = frozenset(values)
    if any(type(v) is not uuid.UUID for v in out):
        raise InvalidScopeError(f"{what} must be UUIDs")
    return out


@dataclass(frozen=True, slots=True)
class BreachScope:
    start: datetime
    end: datetime
    tables: frozenset[str] = frozenset()
    actors: frozenset[uuid.UUID] = frozenset()
    organisations: frozenset[uuid.UUID] = frozenset()
    keys: frozenset[uuid.UUID] = frozenset()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise InvalidScopeError(f"the window {name} must be a time with a zone, e.g. 2026-11-02T08:00Z")
        if self.end <= self.start:
            raise InvalidScopeError("the window must end after it starts (--to after --from)")
        if self.end - self.start > MAX_WINDOW:
            raise InvalidScopeError("the window is longer than ten years; check --from and --to")
        object.__setattr__(self, "tables", frozenset(self.tables))
        object.__setattr__(self, "actors", _ids(self.actors, "actors"))
        object.__setattr__(self, "organisations", _ids(self.organisations, "organisations"))
        object.__setattr__(self, "keys", _ids(self.keys, "keys"))

    def check_tables(self, registry: Registry = PLATFORM_REGISTRY) -> None:
        """Refuse table names that hold no SENSITIVE data (nothing to breach) or do not exist."""
        sensitive = {t.name for t in registry if t.data_class is DataClass.SENSITIVE}
        unknown = sorted(self.tables - sensitive)
        if unknown:
            raise InvalidScopeError(
                f"--tables names {', '.join(unknown)}, which hold no SENSITIVE data; choose from "
                f"{', '.join(sorted(sensitive))}"
            )

    def as_document(self) -> dict[str, object]:
        """The scope as stored with the incident and shown in its report: ids and names only."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "tables": sorted(self.tables),
            "actors": sorted(str(a) for a in self.actors),
            "organisations": sorted(str(o) for o in self.organisations),
            "keys": sorted(str(k) for k in self.keys),
        }

    def fingerprint(self) -> bytes:
        text = json.dumps(self.as_document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(b"platform-breach-scope-v1\x00" + text.encode()).digest()

    def describe(self) -> str:
        parts = [f"{self.start.isoformat()} to {self.end.isoformat()}"]
        if self.tables:
            parts.append(f"tables {', '.join(sorted(self.tables))}")
        for label, ids in (("actors", self.actors), ("organisations", self.organisations), ("keys", self.keys)):
            if ids:
                parts.append(f"{len(ids)} {label}")
        return "; ".join(parts)
