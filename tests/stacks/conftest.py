"""The session's synthesized assemblies (`operator`, `selfhosted`) are fixtures of tests/conftest.py, shared
with tests/e2e; the helpers stay importable from here under their old names (no fixture is re-exported:
a second registration would synthesize a second time)."""

from __future__ import annotations

from tests.conftest import (
    OPERATOR_CONFIG,
    ROOT,
    SELFHOSTED_CONFIG,
    Assembly,
    cdk_json_context,
    synth_assembly,
)

__all__ = ["OPERATOR_CONFIG", "ROOT", "SELFHOSTED_CONFIG", "Assembly", "cdk_json_context", "synth_assembly"]
