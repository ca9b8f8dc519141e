"""The only way to write telemetry and audit events: schema check, then scrubber, then one write."""

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Protocol

from runtime.classification.classes import DataClass
from runtime.errors import NotAllowlistedError, PiiDetectedError
from runtime.telemetry.schema import EventSchema
from runtime.telemetry.scrubber import Scrubber, looks_like_card_number

Record = Mapping[str, object]


class EventSink(Protocol):
    def write(self, record: Record) -> None: ...


class ListSink:
    """Keeps records in memory: for tests and for batching before a real sink."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)


class LoggingSink:
    """Writes each record as one JSON line to a logger (CloudWatch picks it up from stdout)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def write(self, record: Record) -> None:
        self._logger.info("%s", json.dumps(record, sort_keys=True, separators=(",", ":")))


class Emitter:
    """Accepts NOT_SENSITIVE data only (P2, P7).

    Every event must match an allowlisted schema; every string then goes through the scrubber
    and every integer through the card-number check, as a backstop against a schema that
    allowlists more than it should. Anything refused raises before the sink sees a byte.
    """

    def __init__(
        self,
        schemas: Iterable[EventSchema],
        sink: EventSink,
        *,
        scrubber: Scrubber | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._schemas = {s.name: s for s in schemas}
        self._sink = sink
        self._scrubber = scrubber or Scrubber()
        self._clock = clock

    def emit(self, event: str, fields: Mapping[str, object]) -> None:
        schema = self._schemas.get(event)
        if schema is None:
            raise NotAllowlistedError(f"event {event!r} has no allowlisted schema; declare one first")
        for name, value in fields.items():
            self._backstop(event, name, value.value if isinstance(value, Enum) else value)
        values = schema.normalise(fields)
        self._sink.write(
            {
                "event": event,
                "at": self._clock().isoformat(),
                "data_class": DataClass.NOT_SENSITIVE.value,
                "fields": values,
            }
        )

    def _backstop(self, event: str, name: str, value: object) -> None:
        # Runs before the shape check, so PII is reported as PII rather than as "not an id".
        where = f"field {name} of event {event}"
        if isinstance(value, str):
            self._scrubber.check(value, field=where)
        elif isinstance(value, int) and not isinstance(value, bool) and looks_like_card_number(value):
            raise PiiDetectedError(f"{where} looks like it holds a card-number; it may not be emitted")
