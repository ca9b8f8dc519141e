"""What a deployed-state check returns: one `Result` per promise question, with the resources it examined."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum


class Status(Enum):
    PASS = "pass"  # noqa: S105 (a status)
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"  # the promise asks nothing of this environment here (the reason says why)
    NOT_CHECKED = "could-not-check"  # the check could not read what it needs (the reason says what)


@dataclass(frozen=True)
class Result:
    promises: tuple[str, ...]
    check: str  # "<family>.<what>", e.g. "keys.rotation"
    status: Status
    detail: str
    resources: tuple[str, ...] = ()
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Checker:
    """Builds the results of one check, each stamped with the clock's time."""

    def __init__(self, check: str, promises: tuple[str, ...], clock: Clock = utc_now) -> None:
        self.check, self.promises, self._clock = check, promises, clock

    def result(self, status: Status, detail: str, resources: Iterable[str] = ()) -> Result:
        return Result(self.promises, self.check, status, detail, tuple(resources), self._clock())

    def verdict(self, ok: bool, detail: str, resources: Iterable[str] = ()) -> Result:
        return self.result(Status.PASS if ok else Status.FAIL, detail, resources)

    def not_checked(self, reason: str, resources: Iterable[str] = ()) -> Result:
        return self.result(Status.NOT_CHECKED, reason, resources)

    def not_applicable(self, reason: str, resources: Iterable[str] = ()) -> Result:
        return self.result(Status.NOT_APPLICABLE, reason, resources)
