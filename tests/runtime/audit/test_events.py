"""Audit events hold ids, enums and counts only: anything else is refused before it is written (P14)."""

import uuid

import pytest

from runtime.audit import AccessEvent, Action
from runtime.audit.events import check_event
from runtime.errors import InvalidAuditEventError

ACTOR, OWNER, ROW = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def test_event_fields_hold_ids_enums_and_counts_only() -> None:
    event = AccessEvent(ACTOR, OWNER, Action.READ, "prompts", (ROW,), "req-1")
    assert event.fields() == {
        "action": "read", "table": "prompts", "row_count": 1, "row_ids": [str(ROW)], "request_id": "req-1",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"actor_id": str(ACTOR)},
        {"owner_id": "jane.doe@example.com"},
        {"action": "read"},
        {"row_ids": [ROW]},
        {"row_ids": (str(ROW),)},
        {"request_id": "free text with spaces"},
        {"request_id": "jane.doe@example.com"},
        {"request_id": ""},
        {"request_id": "x" * 200},
        {"row_count": 0, "row_ids": (ROW, ROW)},
    ],
)
def test_event_wrong_kind_of_field_refused(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"actor_id": ACTOR, "owner_id": OWNER, "action": Action.READ, "table": "prompts",
                                 "row_ids": (ROW,), "request_id": "req-1", **kwargs}
    with pytest.raises(InvalidAuditEventError):
        AccessEvent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("request_id", ["192.168.1.20", "AKIAABCDEFGHIJKLMNOP", "4111111111111111"])
def test_event_request_id_that_looks_like_pii_refused(request_id: str) -> None:
    with pytest.raises(InvalidAuditEventError, match="request_id looks like"):
        check_event(AccessEvent(ACTOR, OWNER, Action.READ, "prompts", (), request_id))


def test_event_undeclared_table_refused() -> None:
    with pytest.raises(InvalidAuditEventError, match="undeclared table"):
        check_event(AccessEvent(ACTOR, OWNER, Action.READ, "secrets", (), "req-1"))


def test_event_bulk_count_may_exceed_listed_ids() -> None:
    assert AccessEvent(ACTOR, OWNER, Action.ERASE, "prompts", (), "job-1", row_count=5000).row_count == 5000
