"""The only way to write telemetry and audit events: schema check, then scrubber, then one write."""

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Protocol

from runtime.classification.classes import DataClass
from runtime.errors import NotAllowlistedError, PiiDetectedError
from runtime.telemetry.schema import EventSchema
from runtime.telemetry.scrubber import Scrubber, is_uuid_text, looks_like_card_number, luhn_valid

Record = Mapping[str, object]


class EventSink(Protocol):
    def write(self, record: Record) -> None: ...


class ListSink:
    """Keeps records in memory: for tests and for batching before a real sink."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)


class CheckedRecord(dict[str, object]):
    """A record the Emitter built after its checks (schema, scrubber on every string, card check on every
    number): made by `Emitter.emit` only."""


class CheckedLine(str):
    """The JSON line of a `CheckedRecord`: the scrubbing log filter (runtime.telemetry.log_filter) passes it
    as it is, since every value in it went through the emitter's checks (a superset of the filter's)."""

    __slots__ = ()


class LoggingSink:
    """Writes each record as one JSON line to a logger (CloudWatch picks it up from stdout)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def write(self, record: Record) -> None:
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        line = json.dumps(record, sort_keys=True, separators=(",", ":"))
        # Logger.handle with a record of our own: the same handlers and filters as logger.info, without the
        # call-site lookup (a stack walk per event). Only the emitter's own records skip the log scrubber.
        message = CheckedLine(line) if type(record) is CheckedRecord else line
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None))


class Emitter:
    """Accepts NOT_SENSITIVE data only (P2, P7).

    Every event must match an allowlisted schema; every string (event and field names included) then goes
    through the scrubber and every number through the card-number check, as a backstop against a schema that
    allowlists more than it should. Anything refused raises before the sink sees a byte.

    Strings that passed the scrubber once (event and field names, enum values, service and route names) are
    remembered in a bounded set and not scanned again: the scrubber is deterministic, so no verdict changes.
    """

    MAX_REMEMBERED: Final = 4096  # strings known to pass; the set is emptied when full
    MAX_REMEMBERED_CHARS: Final = 128

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
        self._passed: set[str] = set()

    def emit(self, event: str, fields: Mapping[str, object]) -> None:
        schema = self._schemas.get(event)
        if schema is None:
            raise NotAllowlistedError(f"event {event!r} has no allowlisted schema; declare one first")
        self._scrub(event, event)
        for name, value in fields.items():
            self._scrub(name, event)
            self._backstop(event, name, value.value if isinstance(value, Enum) else value)
        values = schema.normalise(fields)
        self._sink.write(
            CheckedRecord(
                event=event,
                at=self._clock().isoformat(),
                data_class=DataClass.NOT_SENSITIVE.value,
                fields=values,
            )
        )

    def _backstop(self, event: str, name: str, value: object) -> None:
        # Runs before the shape check, so PII is reported as PII rather than as "not an id".
        if isinstance(value, str):
            self._scrub(value, event, name)
        elif isinstance(value, bool):
            return
        elif (isinstance(value, int) and looks_like_card_number(value)) or (
            isinstance(value, float) and _float_holds_card_number(value)
        ):
            raise PiiDetectedError(f"field {name} of event {event} looks like it holds a card-number; it may not "
                                   "be emitted")

    def _scrub(self, text: str, event: str, field: str | None = None) -> None:
        """`field`: the field whose value `text` is; None for the event's or a field's name."""
        if text in self._passed:
            return
        self._scrubber.check(text, field=f"a name in event {event}" if field is None else
                             f"field {field} of event {event}")
        # Not the UUIDs (request and row ids): each is new, and the scrubber answers them at once anyway.
        if len(text) <= self.MAX_REMEMBERED_CHARS and not is_uuid_text(text):
            if len(self._passed) >= self.MAX_REMEMBERED:
                self._passed.clear()
            self._passed.add(text)


_DIGIT_RUN: Final = re.compile(r"\d+")


def _float_holds_card_number(value: float) -> bool:
    """Whether the float's JSON text holds a card number (a Luhn-valid run of 13 to 19 digits)."""
    text = repr(value)
    return len(text) >= 13 and any(13 <= len(run) <= 19 and luhn_valid(run) for run in _DIGIT_RUN.findall(text))
