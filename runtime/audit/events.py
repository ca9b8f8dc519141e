"""What an audit event says (P14): who (pseudonymous ids), whose data, what action, which table, how
many rows and which (platform-generated ids), when, and under which request. Nothing else: no
payload, no free text, so the ledger is NOT_SENSITIVE and survives erasure.

Every field is an id, an enum or a count, checked on construction; a value of any other kind raises
`InvalidAuditEventError` before anything is written.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from runtime.classification import PLATFORM_REGISTRY, Registry
from runtime.errors import InvalidAuditEventError
from runtime.telemetry.scrubber import Scrubber

EVENT_NAME: Final = "data.accessed"
# Request ids come from outside (load balancer trace ids, client headers): ids only, scrubbed.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:=-]{0,127}")
_SCRUBBER = Scrubber()


class Action(Enum):
    READ = "read"
    WRITE = "write"  # insert or update
    DELETE = "delete"
    EXPORT = "export"
    ERASE = "erase"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    actor_id: uuid.UUID
    owner_id: uuid.UUID
    action: Action
    table: str
    row_ids: tuple[uuid.UUID, ...]
    request_id: str
    row_count: int = -1  # defaults to len(row_ids); larger when only a count is known (bulk erase)

    def __post_init__(self) -> None:
        for name in ("actor_id", "owner_id"):
            if type(getattr(self, name)) is not uuid.UUID:
                raise InvalidAuditEventError(f"audit field {name} must be a uuid.UUID (a pseudonymous id)")
        if not isinstance(self.action, Action):
            raise InvalidAuditEventError("audit field action must be an Action")
        if type(self.row_ids) is not tuple or any(type(r) is not uuid.UUID for r in self.row_ids):
            raise InvalidAuditEventError("audit field row_ids must be a tuple of uuid.UUID")
        check_request_id(self.request_id)
        if self.row_count == -1:
            object.__setattr__(self, "row_count", len(self.row_ids))
        if type(self.row_count) is not int or self.row_count < len(self.row_ids):
            raise InvalidAuditEventError("audit field row_count must be an int >= the number of row ids")

    def fields(self) -> dict[str, object]:
        """The `fields` document stored with the event (and covered by its MAC)."""
        return {
            "action": self.action.value,
            "table": self.table,
            "row_count": self.row_count,
            "row_ids": [str(r) for r in self.row_ids],
            "request_id": self.request_id,
        }


def check_request_id(value: object) -> None:
    if type(value) is not str or not _REQUEST_ID.fullmatch(value):
        raise InvalidAuditEventError(
            "audit field request_id must be an id of 1-128 letters, digits and _.:=- (no free text)"
        )


def check_event(event: AccessEvent, registry: Registry = PLATFORM_REGISTRY) -> None:
    """Refuse events about tables the registry does not declare, and request ids that look like PII."""
    if not registry.is_declared(event.table):
        raise InvalidAuditEventError(f"audit event names the undeclared table {event.table!r}")
    kinds = _SCRUBBER.kinds_in(event.request_id)
    if kinds:
        raise InvalidAuditEventError(
            f"audit field request_id looks like {', '.join(sorted(k.value for k in kinds))}; pass a generated id"
        )


def check_events(events: Iterable[AccessEvent], registry: Registry = PLATFORM_REGISTRY) -> None:
    for event in events:
        check_event(event, registry)
