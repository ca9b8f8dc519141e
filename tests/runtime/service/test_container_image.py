"""The runtime image, checked by inspection (no Docker engine here): pinned, non-root, read-only friendly,
health-checked, a small build context without tests or caches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[3] / "runtime"
DOCKERFILE = (RUNTIME / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def _instructions(name: str) -> list[str]:
    return [line for line in INSTRUCTIONS if line.split()[0].upper() == name]


def test_container_base_image_is_a_pinned_slim_python_3_11() -> None:
    [from_line] = _instructions("FROM")
    image = from_line.split()[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", image), image  # digest: test_container_pins


def test_container_runs_as_a_non_root_user() -> None:
    [user] = _instructions("USER")
    uid = user.split()[1].split(":")[0]
    assert uid == "10001"
    assert INSTRUCTIONS.index(user) > max(INSTRUCTIONS.index(line) for line in _instructions("RUN"))


def test_container_serves_with_a_health_check() -> None:
    assert _instructions("CMD")[-1] == 'CMD ["python", "-m", "runtime", "serve"]'
    [health] = _instructions("HEALTHCHECK")
    assert "/healthz" in health and "127.0.0.1" in health


def test_container_writes_nothing_at_run_time() -> None:
    env = " ".join(_instructions("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env and "TMPDIR=/tmp" in env


def test_container_copies_no_tests_and_context_excludes_caches() -> None:
    copies = _instructions("COPY")
    assert copies and not any("test" in line for line in copies)
    ignored = (RUNTIME / ".dockerignore").read_text().split()
    for pattern in ("**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", "**/tests"):
        assert pattern in ignored
    assert not list(RUNTIME.glob("**/test_*.py")), "tests live under tests/, outside the build context"


# The direct pins (requirements.in); the lock with hashes built from them (requirements.txt) is checked by
# tests/runtime/test_container_pins.py.
@pytest.mark.parametrize("line", [
    line for line in (RUNTIME / "requirements.in").read_text().splitlines() if line.strip() and line[0] != "#"
])
def test_container_requirements_are_pinned_exactly(line: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.+-]*", line), line


def test_container_requirements_include_the_service() -> None:
    names = {re.split(r"[\[=]", line)[0].lower() for line in (RUNTIME / "requirements.in").read_text().splitlines()
             if line.strip() and line[0] != "#"}
    assert {"fastapi", "uvicorn", "pydantic", "starlette", "psycopg", "cryptography", "pyjwt"} <= names
