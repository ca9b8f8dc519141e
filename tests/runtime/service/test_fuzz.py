"""Property-based fuzzing of the owner API against its own OpenAPI description (schemathesis).

Every operation gets requests generated from the description: valid ones (positive) and ones that break
it (negative), from an authenticated caller. The service never answers 5xx, and what it answers matches
what it documents (status codes, content types, response schemas). Bounded and derandomized, so the run
is short and the same every time.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.runtime.service.conftest import Org
from tests.support.tokens import TokenIssuer

EXAMPLES_PER_OPERATION = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(api_schema: Any, headers: dict[str, str], mode: GenerationMode, examples: int) -> int:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path in ("/healthz", "/readyz"):
            continue  # no input to break

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(headers=dict(headers))  # a copy: the call adds its own headers to it
            case.validate_response(response, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label} ({mode.value})")
            raise
    return len(operations)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_owner_api_never_answers_5xx_and_matches_its_description(
    owner_app: FastAPI, org_a: Org, mode: GenerationMode
) -> None:
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", owner_app)
    operations = _fuzz(api_schema, org_a.headers, mode, EXAMPLES_PER_OPERATION)
    assert operations >= 6 * 5 + 2 + 2  # every collection's five verbs, the organisation, the probes


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_support_api_never_answers_5xx_and_matches_its_description(
    support_app: FastAPI, issuer: TokenIssuer, mode: GenerationMode
) -> None:
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", support_app)
    assert _fuzz(api_schema, issuer.headers("support-engineer", None), mode, EXAMPLES_PER_OPERATION) == 6
