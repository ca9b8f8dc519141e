"""Layering rules of ARCHITECTURE.md, checked in a fresh interpreter so other tests can't mask them."""

import subprocess
import sys

import pytest

PURE_MODULES = [
    "runtime.classification",
    "runtime.telemetry",
    "runtime.envelope",  # the cipher and keyrings take their clients injected
    "runtime.settings",
    "runtime.errors",
    "runtime.client",  # the typed client: the standard library only
]


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_imports_runtime_module_loads_no_cdk_boto3_or_psycopg(module: str) -> None:
    loaded = _imported_after(module)
    assert not loaded & {"aws_cdk", "constructs", "boto3", "botocore", "psycopg"}


def test_imports_client_needs_nothing_but_the_standard_library() -> None:
    """A caller installs the runtime for its client without running its web stack: nothing else is loaded."""
    loaded = _imported_after("runtime.client")
    assert not loaded & {"fastapi", "starlette", "pydantic", "pydantic_core", "cryptography", "uvicorn", "httpx"}
