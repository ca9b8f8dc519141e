"""The command dispatcher: usage errors and known failures are one line, never a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from runtime import cli
from runtime.errors import PlatformError


def test_cli_without_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: python -m runtime" in capsys.readouterr().err


def test_cli_known_failure_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def failing(args: argparse.Namespace) -> int:
        raise PlatformError("the thing failed: do this to fix it")

    def fake_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser()
        parser.set_defaults(handler=failing)
        return parser

    monkeypatch.setattr(cli, "build_parser", fake_parser)
    assert cli.main([]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == "error: the thing failed: do this to fix it\n"


def test_cli_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "runtime"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == cli.EXIT_USAGE and "Traceback" not in result.stderr
