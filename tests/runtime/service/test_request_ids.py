"""Request ids (runtime.service.middleware.new_request_id): random version-4 UUIDs in canonical text."""

import uuid

from runtime.audit.events import check_request_id
from runtime.service.middleware import new_request_id
from runtime.telemetry import Scrubber


def test_request_ids_are_random_v4_uuids_in_canonical_text_that_every_check_passes() -> None:
    ids = [new_request_id() for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    scrubber = Scrubber()
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
        check_request_id(text)
        assert scrubber.find(text) == []
    assert {text[19] for text in ids} == set("89ab")  # every variant digit occurs: its random bits are used
    assert {c for text in ids for c in text.replace("-", "")} == set("0123456789abcdef")
