"""The session's synthesized assemblies (tests/conftest.py: `operator`, `selfhosted`), brought up locally ONCE
per session each: the emulation and life-cycle tests share the running environments."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from e2e import emulation
from e2e.emulation import Running
from tests.conftest import Assembly


@dataclass
class Up:
    """A running environment and every line it printed (shown when a test fails), with its start time."""

    running: Running
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def say(self, line: str) -> None:
        self.note(self.lines, self.started, line)

    @staticmethod
    def note(lines: list[str], started: float, line: str) -> None:
        lines.append(f"[{time.monotonic() - started:6.1f} s] {line}")


def _up(assembly: Assembly, env: str) -> Iterator[Up]:
    lines: list[str] = []
    started = time.monotonic()
    with emulation.up(assembly.outcome.outdir, env, say=lambda line: Up.note(lines, started, line)) as running:
        yield Up(running, lines, started)


@pytest.fixture(scope="session")
def dev_up(operator: Assembly) -> Iterator[Up]:
    yield from _up(operator, "dev")


@pytest.fixture(scope="session")
def acme_up(selfhosted: Assembly) -> Iterator[Up]:
    yield from _up(selfhosted, "acme")


@pytest.fixture(scope="session")
def dev(dev_up: Up) -> Running:
    return dev_up.running
