import json
import logging
import uuid
from datetime import UTC, datetime
from enum import Enum

import pytest

from runtime.classification import Sensitive
from runtime.errors import NotAllowlistedError, PiiDetectedError, SensitiveDataError
from runtime.telemetry import (
    TELEMETRY_SCHEMAS,
    Emitter,
    EventSchema,
    ListSink,
    LoggingSink,
    audit_schemas,
    boolean_field,
    enum_field,
    id_field,
    integer_field,
    number_field,
    timestamp_field,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class Outcome(Enum):
    OK = "ok"
    FAILED = "failed"


SCHEMA = EventSchema.of(
    "job.finished",
    job_id=id_field(),
    outcome=enum_field(["ok", "failed"]),
    items=integer_field(),
    seconds=number_field(),
    retried=boolean_field(),
    started_at=timestamp_field(),
    region=id_field(required=False),
)

GOOD = {
    "job_id": uuid.UUID("550e8400-e29b-41d4-a716-446655440000"),
    "outcome": Outcome.OK,
    "items": 12,
    "seconds": 1.5,
    "retried": False,
    "started_at": NOW,
}


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def emitter(sink: ListSink) -> Emitter:
    return Emitter([SCHEMA], sink, clock=lambda: NOW)


def test_emitter_allowlisted_fields_are_written(emitter: Emitter, sink: ListSink) -> None:
    emitter.emit("job.finished", {**GOOD, "region": "eu-west-1"})
    assert sink.records == [
        {
            "event": "job.finished",
            "at": NOW.isoformat(),
            "data_class": "not-sensitive",
            "fields": {
                "job_id": "550e8400-e29b-41d4-a716-446655440000",
                "outcome": "ok",
                "items": 12,
                "seconds": 1.5,
                "retried": False,
                "started_at": NOW.isoformat(),
                "region": "eu-west-1",
            },
        }
    ]


def test_emitter_sensitive_value_raises_and_writes_nothing(emitter: Emitter, sink: ListSink) -> None:
    with pytest.raises(SensitiveDataError, match="job_id"):
        emitter.emit("job.finished", {**GOOD, "job_id": Sensitive("550e8400-e29b-41d4-a716-446655440000")})
    assert sink.records == []


def test_emitter_bytes_value_is_sensitive(emitter: Emitter, sink: ListSink) -> None:
    with pytest.raises(SensitiveDataError, match="unclassified"):
        emitter.emit("job.finished", {**GOOD, "region": b"decrypted payload"})
    assert sink.records == []


def test_emitter_unknown_field_raises(emitter: Emitter, sink: ListSink) -> None:
    with pytest.raises(NotAllowlistedError, match="prompt"):
        emitter.emit("job.finished", {**GOOD, "prompt": "ok"})
    assert sink.records == []


def test_emitter_unknown_event_raises(emitter: Emitter) -> None:
    with pytest.raises(NotAllowlistedError, match="no allowlisted schema"):
        emitter.emit("debug.dump", {})


def test_emitter_missing_required_field_raises(emitter: Emitter) -> None:
    with pytest.raises(NotAllowlistedError, match="missing"):
        emitter.emit("job.finished", {k: v for k, v in GOOD.items() if k != "items"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "maybe"),
        ("items", "12"),
        ("items", True),
        ("seconds", float("nan")),
        ("retried", 1),
        ("started_at", datetime(2025, 1, 1)),  # naive: which zone?
        ("job_id", "slash/in/id"),
        ("job_id", "x" * 65),
    ],
)
def test_emitter_wrong_kind_raises(emitter: Emitter, field: str, value: object) -> None:
    with pytest.raises(NotAllowlistedError, match=field):
        emitter.emit("job.finished", {**GOOD, field: value})


@pytest.mark.parametrize(
    "value",
    [
        "alice@example.com",
        "10.0.0.1",
        "AKIAIOSFODNN7EXAMPLE",
        "4111111111111111",
        "+14155550123",
        "the user wrote this",
    ],
)
def test_emitter_pii_in_id_field_is_refused(emitter: Emitter, sink: ListSink, value: str) -> None:
    with pytest.raises(PiiDetectedError):
        emitter.emit("job.finished", {**GOOD, "region": value})
    assert sink.records == []


def test_emitter_pii_in_allowlisted_enum_is_refused(sink: ListSink) -> None:
    # A schema that allowlists too much is caught by the scrubber backstop.
    careless = EventSchema.of("careless", who=enum_field(["bob@example.org"]))
    with pytest.raises(PiiDetectedError, match="email"):
        Emitter([careless], sink).emit("careless", {"who": "bob@example.org"})
    assert sink.records == []


def test_emitter_card_number_as_integer_is_refused(emitter: Emitter) -> None:
    with pytest.raises(PiiDetectedError, match="card"):
        emitter.emit("job.finished", {**GOOD, "items": 4111111111111111})


def test_emitter_audit_schema_uses_registry_names(sink: ListSink) -> None:
    emitter = Emitter(audit_schemas(), sink)
    fields = {"actor_id": "u1", "owner_id": "o1", "action": "read", "table": "prompts", "column": "body"}
    emitter.emit("data.accessed", fields)
    with pytest.raises(NotAllowlistedError, match="table"):
        emitter.emit("data.accessed", {**fields, "table": "not_a_table"})
    assert len(sink.records) == 1


def test_emitter_platform_telemetry_schema_accepts_cache_stats(sink: ListSink) -> None:
    Emitter(TELEMETRY_SCHEMAS, sink).emit("envelope.cache", {"hits": 10, "misses": 1, "kms_calls": 1})
    assert sink.records[0]["fields"] == {"hits": 10, "misses": 1, "kms_calls": 1}


def test_logging_sink_writes_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.telemetry")
    with caplog.at_level(logging.INFO, logger="test.telemetry"):
        Emitter([SCHEMA], LoggingSink(logger), clock=lambda: NOW).emit("job.finished", GOOD)
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith('{"at":"2025-01-02T03:04:05+00:00"')


def test_emitter_card_number_in_a_float_is_refused(emitter: Emitter, sink: ListSink) -> None:
    # The float's JSON text would carry the digits: 4111111111111111.0, 0.4111111111111111
    for value in (4111111111111111.0, 0.4111111111111111):
        with pytest.raises(PiiDetectedError, match="card"):
            emitter.emit("job.finished", {**GOOD, "seconds": value})
    emitter.emit("job.finished", {**GOOD, "seconds": 1234.567})
    assert len(sink.records) == 1


def test_emitter_pii_in_a_field_name_is_refused_without_quoting_it(emitter: Emitter, sink: ListSink) -> None:
    with pytest.raises(PiiDetectedError) as raised:
        emitter.emit("job.finished", {**GOOD, "bob@example.org": 1})
    assert "bob" not in str(raised.value)
    assert sink.records == []


def test_emitter_refused_value_is_refused_every_time_and_passed_values_still_pass(
    emitter: Emitter, sink: ListSink
) -> None:
    # Strings that passed are remembered (not scanned again); refused ones never are.
    for _ in range(3):
        emitter.emit("job.finished", {**GOOD, "region": "eu-west-1"})
        with pytest.raises(PiiDetectedError):
            emitter.emit("job.finished", {**GOOD, "region": "10.0.0.1"})
    assert [r["fields"]["region"] for r in sink.records] == ["eu-west-1"] * 3  # type: ignore[index]


def test_emitter_remembers_a_bounded_number_of_strings_and_no_uuids(sink: ListSink) -> None:
    emitter = Emitter([SCHEMA], sink, clock=lambda: NOW)
    for i in range(Emitter.MAX_REMEMBERED + 10):
        emitter.emit("job.finished", {**GOOD, "region": f"region-{i}"})
    assert len(emitter._passed) <= Emitter.MAX_REMEMBERED
    emitter.emit("job.finished", {**GOOD, "region": "550e8400-e29b-41d4-a716-446655440001"})
    assert "550e8400-e29b-41d4-a716-446655440001" not in emitter._passed  # ids are new each time: not kept


def test_logging_sink_emitter_lines_skip_the_log_scrubber_other_records_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from runtime.telemetry import LOG_KINDS, Scrubber, ScrubbingLogFilter

    scanned: list[str] = []

    class Watched(Scrubber):
        def redact(self, text: str) -> str:
            scanned.append(text)
            return super().redact(text)

    logger = logging.getLogger("test.telemetry.scrubbed")
    logger.addFilter(ScrubbingLogFilter(Watched(LOG_KINDS)))
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            Emitter([SCHEMA], LoggingSink(logger), clock=lambda: NOW).emit("job.finished", GOOD)
            # A record that did not come through the Emitter's checks is scrubbed as any log line.
            LoggingSink(logger).write({"event": "job.finished", "fields": {"region": "carol@example.com"}})
    finally:
        logger.filters.clear()
    checked, unchecked = (record.getMessage() for record in caplog.records)
    assert json.loads(checked)["fields"]["job_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert "carol" not in unchecked and "[REDACTED:email]" in unchecked
    assert len(scanned) == 1 and "carol" in scanned[0]  # the emitter's line was not scanned a second time
