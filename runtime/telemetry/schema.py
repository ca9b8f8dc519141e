"""Allowlisted event schemas: the only shapes a NOT_SENSITIVE sink accepts (P2, P7).

A field is an id, an enum, a number, a boolean or a timestamp. There is no free-text kind on
purpose: prose can carry anything, so it never reaches telemetry or the audit log.
"""

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType

from runtime.classification.values import Sensitive
from runtime.errors import NotAllowlistedError, SensitiveDataError

# Platform ids are UUIDs; short slugs (service names, regions) are allowed as ids too.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

JsonScalar = str | int | float | bool


class FieldKind(Enum):
    ID = "id"
    ENUM = "enum"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class Field:
    kind: FieldKind
    allowed: frozenset[str] = frozenset()  # the values of an ENUM field
    required: bool = True

    def __post_init__(self) -> None:
        if (self.kind is FieldKind.ENUM) != bool(self.allowed):
            raise ValueError("an ENUM field needs its allowed values, and only an ENUM field has them")


def id_field(*, required: bool = True) -> Field:
    return Field(FieldKind.ID, required=required)


def enum_field(values: Iterable[str], *, required: bool = True) -> Field:
    return Field(FieldKind.ENUM, frozenset(values), required=required)


def integer_field(*, required: bool = True) -> Field:
    return Field(FieldKind.INTEGER, required=required)


def number_field(*, required: bool = True) -> Field:
    return Field(FieldKind.NUMBER, required=required)


def boolean_field(*, required: bool = True) -> Field:
    return Field(FieldKind.BOOLEAN, required=required)


def timestamp_field(*, required: bool = True) -> Field:
    return Field(FieldKind.TIMESTAMP, required=required)


@dataclass(frozen=True, slots=True)
class EventSchema:
    name: str
    fields: Mapping[str, Field] = field(default_factory=lambda: MappingProxyType({}))
    required: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", frozenset(n for n, f in self.fields.items() if f.required))

    @classmethod
    def of(cls, name: str, **fields: Field) -> "EventSchema":
        return cls(name, MappingProxyType(dict(fields)))

    def normalise(self, values: Mapping[str, object]) -> dict[str, JsonScalar]:
        """Check `values` against the schema and return their JSON form; raise before any write."""
        unknown = () if values.keys() <= self.fields.keys() else sorted(values.keys() - self.fields.keys())
        if unknown:
            raise NotAllowlistedError(
                f"event {self.name} has no allowlisted field(s) {', '.join(unknown)}; "
                "add them to the schema (ids, enums, numbers, timestamps only) or leave them out"
            )
        missing = () if values.keys() >= self.required else sorted(self.required - values.keys())
        if missing:
            raise NotAllowlistedError(f"event {self.name} is missing required field(s) {', '.join(missing)}")
        return {name: _normalise(self.name, name, self.fields[name], v) for name, v in values.items()}


_INTEGER, _NUMBER, _ID_KIND = FieldKind.INTEGER, FieldKind.NUMBER, FieldKind.ID  # an Enum member's look-up is slow


def _normalise(event: str, name: str, spec: Field, value: object) -> JsonScalar:
    kind = spec.kind
    # The common cases first, with no work besides the type checks (this runs for every field of every event).
    if kind is _INTEGER and type(value) is int:
        return value
    if kind is _NUMBER and type(value) is float and math.isfinite(value):
        return value
    if kind is _ID_KIND and type(value) is str and _ID.fullmatch(value):
        return value
    where = f"field {name} of event {event}"
    if isinstance(value, Sensitive):
        raise SensitiveDataError(f"{where} was given a SENSITIVE value; it may not leave the encrypted store")
    if isinstance(value, bytes | bytearray | memoryview):
        # Raw bytes are how decrypted payloads travel: unclassified, hence SENSITIVE (P2).
        raise SensitiveDataError(f"{where} was given bytes, which are unclassified and so SENSITIVE")
    if spec.kind is FieldKind.ID:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, str) and _ID.fullmatch(value):
            return value
    elif spec.kind is FieldKind.ENUM:
        member = value.value if isinstance(value, Enum) else value
        if isinstance(member, str) and member in spec.allowed:
            return member
    elif spec.kind is FieldKind.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif spec.kind is FieldKind.NUMBER:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
    elif spec.kind is FieldKind.BOOLEAN:
        if isinstance(value, bool):
            return value
    elif spec.kind is FieldKind.TIMESTAMP and isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat()
    got = type(value).__name__
    raise NotAllowlistedError(f"{where} expects a {spec.kind.value} value; got a {got} that is not one")
