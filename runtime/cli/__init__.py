"""`python -m runtime <command> ...`: one thin dispatcher; each command lives in its own module.

A command module exposes `register(subparsers)`, which adds its sub-command(s) and sets
`handler(args) -> int` on them. Handlers parse, wire adapters into logic and report; they
print a clear message and return a non-zero code on a known error, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from runtime.errors import PlatformError

# Modules under runtime/cli/ that register commands. Add yours here (one line).
COMMAND_MODULES: tuple[str, ...] = ("db", "audit", "serve", "breach", "export", "erase", "restore", "org",
                                     "verify_deployed")

EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description="The platform's runtime commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"runtime.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args))
    except PlatformError as exc:  # every known failure: one line that says what to do
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
