"""Every CLI flag that takes a time or a number has a range (runtime/bounds.py, runtime/cli/arguments.py):
outside it the command exits 2 with a message naming the flag and the range, before anything is wired
(issue 12). Property tests over extreme values: years 1 and 9999, offsets of +-23:59, naive times, 2**64, -1."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtime import bounds, cli
from runtime.cli import arguments
from runtime.db import OwnerScope
from runtime.errors import ExportError
from runtime.lifecycle import ExportFormat, LifecycleRequests

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
ORG = str(uuid.uuid4())
CANARY = "CLI-CANARY-3c7e"

_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_NAIVE = st.one_of(
    st.datetimes(),
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2000, 1, 2)),
    st.datetimes(min_value=datetime(2099, 12, 31), max_value=datetime(2100, 1, 2)),
)
TIMES = st.tuples(_NAIVE, st.one_of(st.none(), _OFFSETS, st.just(UTC))).map(
    lambda pair: pair[0] if pair[1] is None else pair[0].replace(tzinfo=pair[1]))
TIME_FLAGS: list[tuple[list[str], str]] = [  # (argv before the time, the flag), the rest of each argv is valid
    (["export", "--org", ORG, "--format", "csv", "--contract-ended-at"], "--contract-ended-at"),
    (["breach", "declare", "--summary", "s", "--to", "2026-11-02T09:00Z", "--from"], "--from"),
    (["breach", "declare", "--summary", "s", "--from", "2026-11-02T08:00Z", "--to"], "--to"),
    (["restore", "plan", "--cluster", "c", "--to"], "--to"),
    (["restore", "apply", "--cluster", "c", "--to"], "--to"),
]
NUMBER_FLAGS: list[tuple[list[str], str, bounds.IntRange]] = [
    (["breach", "drill", "--organisations"], "--organisations", bounds.DRILL_ORGANISATIONS),
    (["breach", "drill", "--attacked"], "--attacked", bounds.DRILL_ATTACKED),
    (["restore", "plan", "--cluster", "c", "--to", "2026-11-02T08:00Z", "--instances"], "--instances",
     bounds.RESTORE_INSTANCES),
    (["restore", "apply", "--cluster", "c", "--to", "2026-11-02T08:00Z", "--instances"], "--instances",
     bounds.RESTORE_INSTANCES),
    (["audit", "verify", "--workers"], "--workers", bounds.VERIFY_WORKERS),
]
ID_FLAGS: list[tuple[list[str], str]] = [
    (["export", "--format", "csv", "--org"], "--org"),
    (["export", "--org", ORG, "--format", "csv", "--request"], "--request"),
    (["export", "--org", ORG, "--format", "csv", "--actor"], "--actor"),
    (["export", "status", "--org"], "--org"),
    (["erase", "--org"], "--org"),
    (["erase", "--org", ORG, "--actor"], "--actor"),
    (["erase", "verify", "--org"], "--org"),
    (["breach", "deliver"], "incident"),
    (["breach", "status"], "incident"),
]


def _in_range(at: datetime) -> bool:
    return at.tzinfo is not None and bounds.EARLIEST <= at <= bounds.LATEST


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Runs the dispatcher; it must exit 2 (usage). Returns what it printed to stderr."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _parsed(argv: list[str]) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


# --- the argument types ---------------------------------------------------------------------------------

@PROPERTY
@given(at=TIMES)
@example(at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59))))
@example(at=datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(-timedelta(hours=23, minutes=59))))
@example(at=datetime(2000, 1, 1, tzinfo=UTC))
@example(at=datetime(2100, 1, 1, tzinfo=UTC))
def test_utc_time_extremes_parse_to_utc_inside_the_range_else_name_the_rule(at: datetime) -> None:
    if _in_range(at):
        parsed = arguments.utc_time(at.isoformat())
        assert parsed == at and parsed.tzinfo is UTC
        return
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        arguments.utc_time(at.isoformat())
    assert ("has no zone" if at.tzinfo is None else bounds.TIME_RANGE) in str(refused.value)


@PROPERTY
@given(text=st.text(max_size=40))
def test_utc_time_any_text_parses_or_is_an_argument_error(text: str) -> None:
    try:
        parsed = arguments.utc_time(text)
    except argparse.ArgumentTypeError:
        return  # any other exception fails the test
    assert parsed.tzinfo is UTC and bounds.EARLIEST <= parsed <= bounds.LATEST


@PROPERTY
@given(value=st.one_of(st.integers(), st.integers(-2, 20), st.sampled_from([2**63, 2**64, -(2**64), 10**4000])))
def test_whole_number_is_the_value_inside_the_range_else_names_the_range(value: int) -> None:
    parse = arguments.whole_number(bounds.RESTORE_INSTANCES)
    if bounds.RESTORE_INSTANCES.minimum <= value <= bounds.RESTORE_INSTANCES.maximum:
        assert parse(str(value)) == value
        return
    with pytest.raises(argparse.ArgumentTypeError, match="1 to 16"):
        parse(str(value) if abs(value) < 10**4000 else "1" * 5000)


@pytest.mark.parametrize("text", ["", " ", "1.5", "1e3", "true", "NaN", "inf", "0x10", "one", CANARY])
def test_whole_number_not_a_whole_number_names_the_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="whole number from 1 to 16") as refused:
        arguments.whole_number(bounds.RESTORE_INSTANCES)(text)
    assert CANARY not in str(refused.value)


def test_uuid_argument_refusal_never_echoes_the_text() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="UUID") as refused:
        arguments.uuid_argument(CANARY)
    assert CANARY not in str(refused.value)


# --- every command ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "flag"), TIME_FLAGS)
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(at=TIMES.filter(lambda at: not _in_range(at)))
def test_cli_time_flag_outside_the_range_exits_2_naming_the_flag_and_range(
    argv: list[str], flag: str, at: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error([*argv, at.isoformat()], capsys)
    assert f"argument {flag}:" in err
    assert ("has no zone" if at.tzinfo is None else bounds.TIME_RANGE) in err


@pytest.mark.parametrize(("argv", "flag"), TIME_FLAGS)
@pytest.mark.parametrize("text", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00+23:59", "2026-11-02T08:00",
                                  "1999-12-31T23:59:59Z", "2100-01-01T00:00:01Z", "2026-13-01T00:00Z", CANARY])
def test_cli_time_flag_bad_value_exits_2_without_echoing_it(
    argv: list[str], flag: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error([*argv, text], capsys)
    assert f"argument {flag}:" in err and text not in err


@pytest.mark.parametrize(("argv", "flag"), TIME_FLAGS)
def test_cli_time_flag_at_the_bounds_parses_to_utc(argv: list[str], flag: str) -> None:
    for text, expected in (("2000-01-01T01:00+01:00", bounds.EARLIEST), ("2100-01-01T00:00Z", bounds.LATEST)):
        namespace = _parsed([*argv, text])
        values = [v for v in vars(namespace).values() if isinstance(v, datetime)]
        assert expected in values and all(v.tzinfo is UTC for v in values)


@pytest.mark.parametrize(("argv", "flag", "limits"), NUMBER_FLAGS)
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(value=st.one_of(st.integers(max_value=0), st.integers(min_value=1001), st.sampled_from([17, 2**64, -1])))
def test_cli_number_flag_outside_the_range_exits_2_naming_the_flag_and_range(
    argv: list[str], flag: str, limits: bounds.IntRange, value: int, capsys: pytest.CaptureFixture[str]
) -> None:
    if limits.minimum <= value <= limits.maximum:
        return  # 17 to 1000 are inside the drill's ranges
    err = _usage_error([*argv, str(value)], capsys)
    assert f"argument {flag}: must be from {limits.describe()}" in err


@pytest.mark.parametrize(("argv", "flag", "limits"), NUMBER_FLAGS)
@pytest.mark.parametrize("text", ["1.5", "true", "NaN", "", "1" * 5000, CANARY])
def test_cli_number_flag_not_a_whole_number_exits_2_naming_the_flag_and_range(
    argv: list[str], flag: str, limits: bounds.IntRange, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error([*argv, text], capsys)
    assert f"argument {flag}: expected a whole number from {limits.describe()}" in err and CANARY not in err


@pytest.mark.parametrize(("argv", "flag", "limits"), NUMBER_FLAGS)
def test_cli_number_flag_at_the_bounds_parses(argv: list[str], flag: str, limits: bounds.IntRange) -> None:
    dest = {"--organisations": "organisations", "--attacked": "attacked", "--instances": "instances",
            "--workers": "workers"}[flag]
    for value in (limits.minimum, limits.maximum):
        assert getattr(_parsed([*argv, str(value)]), dest) == value


def test_cli_breach_drill_attacking_more_than_seeded_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["breach", "drill", "--organisations", "3", "--attacked", "4"]) == cli.EXIT_USAGE
    assert "--attacked must be at most --organisations" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "flag"), ID_FLAGS)
@pytest.mark.parametrize("text", ["", "1", "not-an-id", str(uuid.uuid4())[:-1], CANARY])
def test_cli_id_flag_not_a_uuid_exits_2_naming_the_flag(
    argv: list[str], flag: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error([*argv, text], capsys)
    assert f"argument {flag}: expected an id (UUID" in err and CANARY not in err


@pytest.mark.parametrize(("argv", "flag"), [*TIME_FLAGS, *((a, f) for a, f, _ in NUMBER_FLAGS)])
def test_cli_help_documents_the_range(argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = argv[: 2 if argv[0] != "export" else 1]
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, at hyphens too
    expected: dict[str, str] = {"--organisations": bounds.DRILL_ORGANISATIONS.describe(),
                                "--attacked": bounds.DRILL_ATTACKED.describe(),
                                "--instances": bounds.RESTORE_INSTANCES.describe(),
                                "--workers": bounds.VERIFY_WORKERS.describe()}
    assert flag in text and "".join(expected.get(flag, bounds.TIME_RANGE).split()) in text


# --- the lifecycle layer behind `export --contract-ended-at` and POST /v1/lifecycle/exports ------------

class _NoDatabase:
    def owner_transaction(self, principal: OwnerScope) -> Any:
        raise AssertionError("the contract end must be refused before any database work")


@pytest.mark.parametrize("ended", [
    datetime(9999, 12, 31, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59))),
    datetime(2100, 1, 1, 0, 0, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 1, 31),
])
def test_request_export_contract_end_outside_the_range_is_an_export_error(ended: datetime) -> None:
    requests = LifecycleRequests(_NoDatabase())  # type: ignore[arg-type]
    principal = OwnerScope.parse(owner_id=uuid.uuid4(), actor_id=uuid.uuid4(), request_id="req-bounds")
    with pytest.raises(ExportError, match="time zone" if ended.tzinfo is None else bounds.TIME_RANGE):
        requests.request_export(principal, ExportFormat.CSV, ended)
