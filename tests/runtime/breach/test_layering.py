"""The pure parts of breach response and restore import no AWS SDK and no database driver (ARCHITECTURE.md):
checked in a fresh interpreter, so other tests' imports cannot mask a violation."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "runtime.breach.scope", "runtime.breach.chain_window", "runtime.breach.impact", "runtime.breach.content",
    "runtime.breach.outbox", "runtime.breach.deadline", "runtime.breach.incident", "runtime.breach.response",
    "runtime.breach.report", "runtime.breach.notifiers", "runtime.breach.aws", "runtime.drill",
    "runtime.restore.cluster", "runtime.restore.plan", "runtime.restore.procedure", "runtime.restore.rds",
    "runtime.restore.drill", "runtime.restore",
]


@pytest.mark.parametrize("module", PURE)
def test_layering_pure_module_loads_no_boto3_or_psycopg(module: str) -> None:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert not {name.split(".")[0] for name in out.split()} & {"boto3", "botocore", "psycopg", "aws_cdk"}
