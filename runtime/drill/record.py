"""A drill's record: which steps ran, how long each took, whether the drill passed. Pure, plus a JSON-file log.

    timer = StepTimer(clock=utc_now)
    with timer.step("provision"):
        ...
    record = timer.finish("breach", figures={...})
"""

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

_CODE: Final = re.compile(r"[^A-Za-z0-9_.:-]")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    seconds: float
    ok: bool


@dataclass(frozen=True, slots=True)
class DrillRecord:
    id: uuid.UUID
    kind: str  # "breach" or "restore"
    started_at: datetime
    finished_at: datetime
    passed: bool
    steps: tuple[Step, ...]
    figures: Mapping[str, Any] = field(default_factory=dict)
    failure: str | None = None  # the failed step's name, then the error class: "deliver:NotificationError"

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def as_document(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "passed": self.passed,
            "steps": [{"name": s.name, "seconds": round(s.seconds, 4), "ok": s.ok} for s in self.steps],
            "figures": dict(self.figures),
            "failure": self.failure,
        }

    def describe(self) -> str:
        outcome = "PASSED" if self.passed else f"FAILED at {self.failure}"
        lines = [f"{self.kind} drill {self.id}: {outcome} in {self.seconds:.2f} s"]
        lines += [f"  {s.name:<14} {s.seconds:8.3f} s  {'ok' if s.ok else 'FAILED'}" for s in self.steps]
        return "\n".join(lines)


class StepTimer:
    def __init__(self, *, clock: Callable[[], datetime] = _utc_now,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._timer = timer
        self.started_at = clock()
        self.steps: list[Step] = []
        self.failure: str | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = self._timer()
        try:
            yield
        except BaseException as exc:
            self.steps.append(Step(name, self._timer() - start, False))
            if self.failure is None:
                self.failure = _CODE.sub("", f"{name}:{type(exc).__name__}")[:64]
            raise
        self.steps.append(Step(name, self._timer() - start, True))

    def fail(self, reason: str) -> None:
        """Mark the drill failed without an exception (a check found a wrong result)."""
        if self.failure is None:
            self.failure = _CODE.sub("", reason)[:64]

    def finish(self, kind: str, figures: Mapping[str, Any]) -> DrillRecord:
        return DrillRecord(uuid.uuid4(), kind, self.started_at, self._clock(), self.failure is None,
                           tuple(self.steps), dict(figures), self.failure)


class DrillLog(Protocol):
    def add(self, record: DrillRecord) -> None: ...


class FileDrillLog:
    """One JSON file per drill in `directory` (for drills run where the database is not the place to keep it)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def add(self, record: DrillRecord) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._directory / f"{record.kind}-drill-{record.started_at:%Y%m%dT%H%M%SZ}-{record.id.hex[:8]}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump(record.as_document(), f, indent=2)
            f.write("\n")
