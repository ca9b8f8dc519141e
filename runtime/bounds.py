"""The range of every time and number a caller may send: request bodies, queries and CLI flags (issue 12).

One place for them, so the OpenAPI description, the CLI's --help, the README and the checks agree:

- a time is ISO 8601 with a zone, from `EARLIEST` to `LATEST` (inclusive), and is used as UTC;
- a number has a named range (`IntRange`, `FloatRange`) with explicit ends; floats are finite.

Inside these ranges no arithmetic the runtime does on a caller's value can overflow (the largest step is
an export deadline of 30 days, or a breach window of ten years). Error messages name the rule, never the
value that was sent (P7). The pydantic types below are what request models use; the CLI's argparse types
(runtime/cli/arguments.py) call the same checks.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field, StrictFloat, StrictInt

EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
TIME_EXAMPLE: Final = "2026-11-02T08:00Z"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


TIME_RANGE: Final = f"{_iso(EARLIEST)} to {_iso(LATEST)}"
NOT_A_TIME: Final = f"not an ISO 8601 time with a zone; use e.g. {TIME_EXAMPLE}, from {TIME_RANGE}"
NO_ZONE: Final = "the time has no zone; add Z for UTC or an offset like +01:00"
OUT_OF_RANGE: Final = f"the time must be from {TIME_RANGE} (inclusive)"


def bounded_instant(value: datetime) -> datetime:
    """`value` in UTC when it carries a zone and lies in [EARLIEST, LATEST]; ValueError otherwise.

    Comparing aware datetimes never overflows (unlike converting year 1 at +23:59 to UTC), so the range is
    checked first and the conversion is safe.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(NO_ZONE)
    if not EARLIEST <= value <= LATEST:
        raise ValueError(OUT_OF_RANGE)
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time with a zone, in range, as UTC; ValueError with the rule otherwise."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(NOT_A_TIME) from None
    return bounded_instant(value)


@dataclass(frozen=True, slots=True)
class IntRange:
    minimum: int
    maximum: int

    def describe(self) -> str:
        return f"{self.minimum} to {self.maximum}"

    def check(self, value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number from {self.describe()}")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"must be from {self.describe()}")
        return value


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class FloatRange:
    minimum: float
    maximum: float

    def describe(self) -> str:
        return f"{_number(self.minimum)} to {_number(self.maximum)}"


MAX_SAFE_INTEGER: Final = 2**53 - 1  # exact in every JSON implementation
MAX_BIGINT: Final = 2**63 - 1  # PostgreSQL bigint

# --- the owner API (runtime/service/resources.py, owner_api.py) ----------------------------------------
LIST_LIMIT: Final = IntRange(1, 100)  # a page of records of up to ~1 MiB each stays well under a task's memory
TOKEN_COUNT: Final = IntRange(0, 1_000_000_000)  # tokens of one model call: no model's context comes near
SCORE: Final = FloatRange(-1e9, 1e9)  # an evaluation score, on whatever scale the evaluator uses
JSON_INTEGER: Final = IntRange(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)  # integers inside JSON values
JSON_DEPTH: Final = 32  # nesting levels of a JSON value (the object itself is level 1)
BATCH_ITEMS: Final = IntRange(1, 1000)  # items of one POST /v1/<collection>/batch (and the body limit)
METADATA_FILTERS: Final = IntRange(0, 8)  # metadata=KEY=VALUE filters of one list query

# --- the support API (runtime/service/support_api.py) ---------------------------------------------------
CHAIN_POSITION: Final = IntRange(0, 2**62)  # `after`: a position in the audit hash chain
SUPPORT_PAGE: Final = IntRange(1, 1000)

# --- the CLI (runtime/cli/) ------------------------------------------------------------------------------
# The audit sequencer's signed checkpoints (P14): at most EVERY positions, and SECONDS, apart; stacks/config.py's
# audit_checkpoint_every / audit_checkpoint_seconds take the same ranges.
AUDIT_CHECKPOINT_EVERY: Final = IntRange(100, 1_000_000)
AUDIT_CHECKPOINT_SECONDS: Final = IntRange(1, 3600)
VERIFY_WORKERS: Final = IntRange(1, 64)  # audit verify --workers
DRILL_ORGANISATIONS: Final = IntRange(1, 1000)  # breach drill --organisations
DRILL_ATTACKED: Final = IntRange(1, 1000)  # breach drill --attacked (at most --organisations)
RESTORE_INSTANCES: Final = IntRange(1, 16)  # restore plan|apply --instances

# --- configuration ----------------------------------------------------------------------------------------
# PLATFORM_KEY_DELETION_PENDING_DAYS: how long an erased organisation's KMS key waits before KMS deletes it
# (KMS's own range for ScheduleKeyDeletion's PendingWindowInDays); the receipt's date counts it.
KEY_DELETION_PENDING_DAYS: Final = IntRange(7, 30)


# --- pydantic types for request models -------------------------------------------------------------------

def _text_or_datetime(value: object) -> object:
    # JSON numbers would be read as Unix times (seconds or milliseconds, by size): refuse the ambiguity.
    if isinstance(value, str | datetime):
        return value
    raise ValueError(f"must be an ISO 8601 time with a zone, e.g. {TIME_EXAMPLE}")


BoundedDatetime = Annotated[
    datetime,
    BeforeValidator(_text_or_datetime),
    AfterValidator(bounded_instant),
    Field(json_schema_extra={"formatMinimum": EARLIEST.isoformat(), "formatMaximum": LATEST.isoformat()}),
]
"""An ISO 8601 time with a zone, from EARLIEST to LATEST; validated into UTC."""


def bounded_int(bounds: IntRange, description: str) -> Any:
    """A strict integer (no booleans, floats or text) in `bounds`, documented in the OpenAPI description."""
    return Annotated[StrictInt, Field(ge=bounds.minimum, le=bounds.maximum,
                                      description=f"{description}; {bounds.describe()}")]


def bounded_float(bounds: FloatRange, description: str) -> Any:
    """A finite number (integers allowed; no booleans or text) in `bounds`, documented."""
    return Annotated[StrictFloat, Field(ge=bounds.minimum, le=bounds.maximum, allow_inf_nan=False,
                                        description=f"{description}; a finite number, {bounds.describe()}")]


def time_description(description: str) -> str:
    return f"{description}; ISO 8601 with a zone, {TIME_RANGE}"
