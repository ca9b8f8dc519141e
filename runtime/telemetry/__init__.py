"""The NOT_SENSITIVE boundary (P2, P7): allowlisted schemas, a PII/secret scrubber, emitters."""

from runtime.telemetry.emitter import Emitter, EventSink, ListSink, LoggingSink
from runtime.telemetry.events import TELEMETRY_SCHEMAS, audit_schemas
from runtime.telemetry.log_filter import ScrubbingLogFilter
from runtime.telemetry.schema import (
    EventSchema,
    Field,
    FieldKind,
    boolean_field,
    enum_field,
    id_field,
    integer_field,
    number_field,
    timestamp_field,
)
from runtime.telemetry.scrubber import ALL_KINDS, LOG_KINDS, Finding, PiiKind, Scrubber, luhn_valid

__all__ = [
    "ALL_KINDS",
    "LOG_KINDS",
    "TELEMETRY_SCHEMAS",
    "Emitter",
    "EventSchema",
    "EventSink",
    "Field",
    "FieldKind",
    "Finding",
    "ListSink",
    "LoggingSink",
    "PiiKind",
    "Scrubber",
    "ScrubbingLogFilter",
    "audit_schemas",
    "boolean_field",
    "enum_field",
    "id_field",
    "integer_field",
    "luhn_valid",
    "number_field",
    "timestamp_field",
]
