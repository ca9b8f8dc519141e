"""Every time and number a client sends has a documented range (runtime/bounds.py); outside it the service
answers a 422 problem naming the field and the range, never a 5xx (issue 12). Property tests over extreme
values: years 1 and 9999, offsets of +-23:59, naive times, NaN, +-Infinity, 2**64, -1, booleans, deep JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import bounds
from runtime import settings as platform_settings
from runtime.audit.chain import ChainKey
from runtime.db.self_check import ServiceMode
from runtime.service.app import create_app
from runtime.service.context import ServiceContext
from runtime.service.problems import MEDIA_TYPE
from runtime.service.wiring import service_routers
from tests.runtime.service.conftest import Org, register, service_config
from tests.support.platform_db import PlatformDatabase
from tests.support.tokens import TokenIssuer

ADMIN = {platform_settings.DEFAULT_AUTH_ADMIN_CLAIM: [platform_settings.DEFAULT_AUTH_ADMIN_ROLE]}
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
JSON = {"content-type": "application/json"}
CANARY = "BOUNDS-CANARY-5e1d"


@pytest.fixture(scope="module")
def lifecycle_app(platform_db: PlatformDatabase, issuer: TokenIssuer, service_chain_key: ChainKey,
                  owner_context: ServiceContext) -> FastAPI:
    config = service_config(platform_db, issuer, service_chain_key, ServiceMode.OWNER)
    return create_app(owner_context, routers=service_routers(config))


@pytest.fixture(scope="module")
def http(lifecycle_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(lifecycle_app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def member(http: TestClient, issuer: TokenIssuer) -> Org:
    return register(http, issuer, "erin@bounds.example")


@pytest.fixture(scope="module")
def admin(member: Org, issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers(member.user, member.id, **ADMIN)


def _refused(answer: Any, location: str) -> dict[str, Any]:
    """A 422 problem whose errors name `location`; returns that error."""
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    errors = answer.json()["errors"]
    named = [e for e in errors if e["location"] == location]
    assert named, errors
    return dict(named[0])


# --- times ---------------------------------------------------------------------------------------------

_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_NAIVE = st.one_of(
    st.datetimes(),  # year 1 to 9999
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2000, 1, 2)),
    st.datetimes(min_value=datetime(2099, 12, 31), max_value=datetime(2100, 1, 2)),
    st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999_999), datetime(2000, 1, 1),
                     datetime(2100, 1, 1)]),
)
TIMES = st.tuples(_NAIVE, st.one_of(st.none(), _OFFSETS, st.just(UTC))).map(
    lambda pair: pair[0] if pair[1] is None else pair[0].replace(tzinfo=pair[1]))


def _in_range(at: datetime) -> bool:
    return at.tzinfo is not None and bounds.EARLIEST <= at <= bounds.LATEST


def test_export_request_contract_end_in_year_9999_is_422_not_500(http: TestClient, admin: dict[str, str]) -> None:
    answer = http.post("/v1/lifecycle/exports", json={"format": "csv", "contract_ended_at": "9999-12-31T00:00:00Z"},
                       headers=admin)
    error = _refused(answer, "body.contract_ended_at")
    assert "2000-01-01T00:00:00Z" in error["message"] and "2100-01-01T00:00:00Z" in error["message"]


@PROPERTY
@given(at=TIMES)
def test_export_request_contract_end_extremes_are_202_inside_the_range_else_422(
    http: TestClient, admin: dict[str, str], at: datetime
) -> None:
    answer = http.post("/v1/lifecycle/exports", json={"format": "json", "contract_ended_at": at.isoformat()},
                       headers=admin)
    if not _in_range(at):
        error = _refused(answer, "body.contract_ended_at")
        assert ("has no zone" if at.tzinfo is None else bounds.TIME_RANGE) in error["message"]
        return
    assert answer.status_code == 202, answer.text
    request = answer.json()
    assert datetime.fromisoformat(request["contract_ended_at"]) == at
    assert datetime.fromisoformat(request["deadline"]) == at + timedelta(days=30)


@pytest.mark.parametrize("value", [
    "NaN", "Infinity", "-Infinity", "1e400", "-1", "0", "1700000000", "18446744073709551616", "true", "false",
    '"2026-01-31"', '"2026-01-31T00:00:00"', '"2026-01-31T00:00:00+24:00"', '"0000-01-01T00:00:00Z"',
    '"10000-01-01T00:00:00Z"', '"1999-12-31T23:59:59.999999Z"', '"2100-01-01T00:00:00.000001Z"',
    '"2000-01-01T00:59:59+01:00"', '"2100-01-01T00:00:00-00:01"', '"not a time"', "[]", "{}",
])
def test_export_request_contract_end_not_a_time_in_range_is_422(
    http: TestClient, admin: dict[str, str], value: str
) -> None:
    body = '{"format": "csv", "contract_ended_at": ' + value + "}"
    _refused(http.post("/v1/lifecycle/exports", content=body, headers={**admin, **JSON}), "body.contract_ended_at")


def test_export_request_contract_end_at_the_bounds_is_accepted(http: TestClient, admin: dict[str, str]) -> None:
    for text in ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00",
                 "2099-12-31T23:00:00-01:00"):
        answer = http.post("/v1/lifecycle/exports", json={"format": "csv", "contract_ended_at": text}, headers=admin)
        assert answer.status_code == 202, (text, answer.text)


def test_export_request_refusal_never_echoes_the_time_sent(http: TestClient, admin: dict[str, str]) -> None:
    answer = http.post("/v1/lifecycle/exports", json={"format": "csv", "contract_ended_at": CANARY}, headers=admin)
    _refused(answer, "body.contract_ended_at")
    assert CANARY not in answer.text


# --- numbers of the owner API -----------------------------------------------------------------------------

INTEGERS = st.one_of(
    st.integers(),
    st.integers(-2, 2),
    st.integers(bounds.TOKEN_COUNT.maximum - 2, bounds.TOKEN_COUNT.maximum + 2),
    st.sampled_from([2**31, 2**53, 2**63, 2**64, -(2**63) - 1, 10**300]),
)


@PROPERTY
@given(tokens=INTEGERS, field=st.sampled_from(["input_tokens", "output_tokens"]))
def test_model_call_token_counts_are_201_inside_the_range_else_422(
    http: TestClient, member: Org, tokens: int, field: str
) -> None:
    answer = http.post("/v1/model-calls", json={"input": "i", field: tokens}, headers=member.headers)
    if bounds.TOKEN_COUNT.minimum <= tokens <= bounds.TOKEN_COUNT.maximum:
        assert answer.status_code == 201, answer.text
        stored = http.get(f"/v1/model-calls/{answer.json()['id']}", headers=member.headers).json()
        assert stored[field] == tokens
    else:
        error = _refused(answer, f"body.{field}")
        limit = bounds.TOKEN_COUNT.minimum if tokens < 0 else bounds.TOKEN_COUNT.maximum
        assert str(limit) in error["message"]


@pytest.mark.parametrize("value", ["true", "false", "1.5", "1e3", '"12"', "NaN", "Infinity", "-Infinity", "[]", "{}"])
def test_model_call_token_count_not_a_whole_number_is_422(http: TestClient, member: Org, value: str) -> None:
    body = '{"input": "i", "input_tokens": ' + value + "}"
    _refused(http.post("/v1/model-calls", content=body, headers={**member.headers, **JSON}), "body.input_tokens")


FLOATS = st.one_of(
    st.floats(),  # NaN and +-inf included
    st.floats(min_value=-1e9 * 1.001, max_value=-1e9 * 0.999),
    st.floats(min_value=1e9 * 0.999, max_value=1e9 * 1.001),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308]),
)


def _json_number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return json.dumps(value)


@PROPERTY
@given(score=FLOATS)
def test_evaluation_score_is_201_inside_the_range_else_422(http: TestClient, member: Org, score: float) -> None:
    body = '{"evaluator": "e", "score": ' + _json_number(score) + "}"
    answer = http.post("/v1/evaluation-results", content=body, headers={**member.headers, **JSON})
    if math.isfinite(score) and bounds.SCORE.minimum <= score <= bounds.SCORE.maximum:
        assert answer.status_code == 201, answer.text
        stored = http.get(f"/v1/evaluation-results/{answer.json()['id']}", headers=member.headers).json()
        assert stored["score"] == float(score)
    else:
        _refused(answer, "body.score")


@pytest.mark.parametrize("value", ["true", "false", '"0.5"', "1e400", "-1e400", "1" + "0" * 400, "[]", "{}"])
def test_evaluation_score_not_a_finite_number_is_422(http: TestClient, member: Org, value: str) -> None:
    body = '{"evaluator": "e", "score": ' + value + "}"
    _refused(http.post("/v1/evaluation-results", content=body, headers={**member.headers, **JSON}), "body.score")


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return {"v": value}


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(depth=st.one_of(st.integers(1, 80), st.integers(bounds.JSON_DEPTH - 1, bounds.JSON_DEPTH + 1)))
def test_model_call_metadata_nested_within_the_depth_is_201_else_422(
    http: TestClient, member: Org, depth: int
) -> None:
    answer = http.post("/v1/model-calls", json={"input": "i", "metadata": _nested(depth)}, headers=member.headers)
    if depth <= bounds.JSON_DEPTH:
        assert answer.status_code == 201, answer.text
    else:
        assert str(bounds.JSON_DEPTH) in _refused(answer, "body.metadata")["message"]


@PROPERTY
@given(number=INTEGERS)
def test_model_call_metadata_integers_inside_the_range_are_201_else_422(
    http: TestClient, member: Org, number: int
) -> None:
    answer = http.post("/v1/model-calls", json={"input": "i", "metadata": {"n": [number]}}, headers=member.headers)
    if bounds.JSON_INTEGER.minimum <= number <= bounds.JSON_INTEGER.maximum:
        assert answer.status_code == 201, answer.text
        stored = http.get(f"/v1/model-calls/{answer.json()['id']}", headers=member.headers).json()
        assert stored["metadata"] == {"n": [number]}
    elif abs(number) < 10**4000:  # longer numbers are not even read as JSON (400/422 either way)
        _refused(answer, "body.metadata")


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_model_call_metadata_very_deep_is_4xx_not_5xx(http: TestClient, member: Org, depth: int) -> None:
    body = '{"input": "i", "metadata": {"a": ' + "[" * depth + "]" * depth + "}}"
    answer = http.post("/v1/model-calls", content=body, headers={**member.headers, **JSON})
    assert 400 <= answer.status_code < 500, answer.text


@PROPERTY
@given(limit=st.one_of(st.integers(), st.integers(-2, 103), st.sampled_from([2**63, 2**64, -(2**64)])))
def test_list_limit_inside_the_range_is_200_else_422(http: TestClient, member: Org, limit: int) -> None:
    answer = http.get("/v1/prompts", params={"limit": str(limit)}, headers=member.headers)
    if bounds.LIST_LIMIT.minimum <= limit <= bounds.LIST_LIMIT.maximum:
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["items"]) <= limit
    else:
        assert str(bounds.LIST_LIMIT.minimum if limit < 1 else bounds.LIST_LIMIT.maximum) in _refused(
            answer, "query.limit")["message"]


@pytest.mark.parametrize("limit", ["1e2", "true", "NaN", "inf", "-0", "", " ", "0x10", "1" * 5000, CANARY])
def test_list_limit_not_a_whole_number_in_range_is_422(http: TestClient, member: Org, limit: str) -> None:
    answer = http.get("/v1/prompts", params={"limit": limit}, headers=member.headers)
    _refused(answer, "query.limit")
    assert CANARY not in answer.text


# --- the description documents every range ---------------------------------------------------------------

def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _unbounded(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Request-side numbers without minimum and maximum, times without formatMinimum and formatMaximum."""
    ref = schema.get("$ref")
    if ref in seen:
        return []
    if ref:
        seen = {*seen, ref}
    schema = _resolve(document, schema)
    found: list[str] = []
    if schema.get("type") in ("integer", "number") and not {"minimum", "maximum"} <= schema.keys():
        found.append(where)
    if schema.get("format") == "date-time" and not {"formatMinimum", "formatMaximum"} <= schema.keys():
        found.append(where)
    for name, child in schema.get("properties", {}).items():
        found += _unbounded(document, child, f"{where}.{name}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in schema.get(key, []):
            found += _unbounded(document, child, where, seen)
    if isinstance(schema.get("items"), dict):
        found += _unbounded(document, schema["items"], f"{where}[]", seen)
    return found


def _unbounded_inputs(document: dict[str, Any]) -> tuple[int, list[str]]:
    inputs, found = 0, []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                inputs += 1
                found += _unbounded(document, parameter["schema"], f"{method} {path} {parameter['name']}", set())
            for media in operation.get("requestBody", {}).get("content", {}).values():
                inputs += 1
                found += _unbounded(document, media["schema"], f"{method} {path} body", set())
    return inputs, found


def test_openapi_owner_and_lifecycle_inputs_all_document_their_range(lifecycle_app: FastAPI) -> None:
    document = lifecycle_app.openapi()
    inputs, unbounded = _unbounded_inputs(document)
    assert inputs > 30 and unbounded == []
    export = _resolve(document, {"$ref": "#/components/schemas/ExportBody"})["properties"]["contract_ended_at"]
    assert bounds.TIME_RANGE in export["description"]
    tokens = _resolve(document, {"$ref": "#/components/schemas/ModelCallCreate"})["properties"]["input_tokens"]
    assert {"minimum": 0, "maximum": bounds.TOKEN_COUNT.maximum}.items() <= tokens["anyOf"][0].items()


def test_openapi_support_inputs_all_document_their_range(support_app: FastAPI) -> None:
    document = support_app.openapi()
    inputs, unbounded = _unbounded_inputs(document)
    assert inputs >= 5 and unbounded == []
    expected = {"after": bounds.CHAIN_POSITION, "limit": bounds.SUPPORT_PAGE}  # support_api.py states them too
    for operations in document["paths"].values():
        for parameter in operations["get"].get("parameters", []):
            limits, schema = expected[parameter["name"]], parameter["schema"]
            assert (schema["minimum"], schema["maximum"]) == (limits.minimum, limits.maximum), parameter
