"""The argparse types of every command: ids, times and whole numbers, each checked against its range
(runtime/bounds.py).

A value that does not parse or lies outside its range raises `argparse.ArgumentTypeError`, so argparse
prints `argument --FLAG: <rule>` and exits 2 (usage). Messages state the rule and the range, never the
value given (it could be anything, and the job's output is kept in its log).

    parser.add_argument("--org", type=uuid_argument)
    parser.add_argument("--to", type=utc_time, help=time_help("end of the window"))
    parser.add_argument("--instances", type=whole_number(bounds.RESTORE_INSTANCES))
"""

import argparse
import uuid
from collections.abc import Callable
from datetime import datetime

from runtime import bounds
from runtime.bounds import IntRange

NOT_AN_ID = "expected an id (UUID, 36 characters)"


def uuid_argument(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(NOT_AN_ID) from None


def utc_time(text: str) -> datetime:
    """ISO 8601 with a zone, from bounds.EARLIEST to bounds.LATEST; returned in UTC."""
    try:
        return bounds.parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def time_help(description: str) -> str:
    return f"{description}; ISO 8601 with a zone, e.g. {bounds.TIME_EXAMPLE}, from {bounds.TIME_RANGE}"


def _whole(text: str, limits: IntRange) -> int:
    try:
        value = int(text)
    except ValueError:  # also: more digits than int() reads
        raise argparse.ArgumentTypeError(f"expected a whole number from {limits.describe()}") from None
    try:
        return limits.check(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def whole_number(limits: IntRange) -> Callable[[str], int]:
    """An argparse type: a whole number in `limits`."""

    def parse(text: str) -> int:
        return _whole(text, limits)

    parse.__name__ = "whole number"
    return parse


def number_help(description: str, limits: IntRange) -> str:
    return f"{description}; {limits.describe()}"


