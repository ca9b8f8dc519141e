"""Layering (ARCHITECTURE.md): the audit logic is pure, adapters build no clients at import, and nothing
under runtime imports the CDK. Checked in a fresh interpreter so other tests' imports can't mask it."""

import subprocess
import sys

import pytest


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("module", ["runtime.audit", "runtime.audit.verify", "runtime.audit.chain"])
def test_layering_audit_logic_imports_no_database_or_aws(module: str) -> None:
    assert not _imported_after(module) & {"psycopg", "psycopg_pool", "boto3", "botocore", "aws_cdk"}


@pytest.mark.parametrize("module", ["runtime.db", "runtime.db.ledger", "runtime.cli.db", "runtime.cli.audit"])
def test_layering_adapters_import_no_aws_sdk_or_cdk(module: str) -> None:
    """boto3 is imported only when a command builds a client; the CDK never."""
    assert not _imported_after(module) & {"boto3", "botocore", "aws_cdk", "constructs"}
