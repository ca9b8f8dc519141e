"""Observability without personal data (P7): Prometheus metrics on a listener of their own and OpenTelemetry
spans hold the method, the route TEMPLATE and the status only. Recognisable markers are sent in paths, query
strings, bodies and headers (the propagation headers too); a scrape and the exported spans (the SDK's
in-memory exporter) must hold none of them."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import settings
from runtime.errors import ConfigurationError
from runtime.service.app import METRICS_STATE_KEY, Observability, create_app
from runtime.service.context import ServiceContext
from runtime.service.metrics import ServiceMetrics
from tests.runtime.service.conftest import Org, register
from tests.support.tokens import TokenIssuer

MARKER_ID = uuid.UUID("5eed5eed-0000-4000-8000-00000000abcd")
TRACE_MARKER = "feedfacefeedfacefeedfacefeedface"
MARKERS = ("MARKERPATH", "MARKERQUERY", "MARKERBODY", "MARKERHEADER", "markerpath", "markerquery",
           str(MARKER_ID), MARKER_ID.hex, TRACE_MARKER, "marker@example.com", "MARKERBAGGAGE")


def _send_markers(http: TestClient, org: Org) -> None:
    headers = {**org.headers, "X-Marker": "MARKERHEADER", "User-Agent": "MARKERHEADER/1.0",
               "traceparent": f"00-{TRACE_MARKER}-feedfacefeedface-01", "baggage": "user=MARKERBAGGAGE"}
    assert http.get(f"/v1/prompts/{MARKER_ID}?q=MARKERQUERY&email=marker@example.com",
                    headers=headers).status_code == 404
    assert http.post("/v1/prompts?MARKERQUERY=1", json={"name": "MARKERBODY", "template": "MARKERBODY"},
                     headers=headers).status_code in (201, 422)
    assert http.get("/MARKERPATH/markerpath?markerquery=1", headers=headers).status_code == 404
    assert http.get("/v1/prompts/not-a-uuid-MARKERPATH", headers=headers).status_code in (404, 422)


@pytest.fixture
def metrics_app(owner_context: ServiceContext) -> Iterator[tuple[TestClient, ServiceMetrics]]:
    app = create_app(owner_context, observability=Observability(metrics_port=0))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http, getattr(app.state, METRICS_STATE_KEY)


def _scrape(metrics: ServiceMetrics) -> str:
    assert metrics.address is not None
    host, port = metrics.address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def test_metrics_markers_in_requests_none_in_scrape(
    metrics_app: tuple[TestClient, ServiceMetrics], issuer: TokenIssuer
) -> None:
    http, metrics = metrics_app
    org = register(http, issuer, "mia@m.example")
    _send_markers(http, org)
    scraped = _scrape(metrics)
    assert metrics.address is not None and metrics.address[0] == "127.0.0.1"
    for marker in MARKERS:
        assert marker not in scraped and marker.lower() not in scraped.lower()
    assert str(org.id) not in scraped


def test_metrics_requests_counted_by_route_template_and_status(
    metrics_app: tuple[TestClient, ServiceMetrics], issuer: TokenIssuer
) -> None:
    http, metrics = metrics_app
    org = register(http, issuer, "ned@n.example")
    for _ in range(3):
        assert http.get(f"/v1/prompts/{uuid.uuid4()}", headers=org.headers).status_code == 404
    assert http.get("/nowhere/at/all").status_code == 404
    scraped = _scrape(metrics)
    by_id = ('platform_http_requests_total{method="GET",route="/v1/prompts/{record_id}",service="data",'
             'status="404"} 3.0')
    assert by_id in scraped
    assert 'route="unmatched",service="data",status="404"}' in scraped
    assert 'platform_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/prompts/{record_id}"' \
        in scraped
    assert 'platform_db_pool_pool_size{pool="data-api"}' in scraped
    assert 'platform_db_pool_requests_waiting{pool="data-api"}' in scraped
    assert "platform_data_key_cache_hits_total" in scraped and "platform_kms_calls_total" in scraped


def test_metrics_not_served_on_api_port(metrics_app: tuple[TestClient, ServiceMetrics]) -> None:
    http, _ = metrics_app
    assert http.get("/metrics").status_code == 404


def test_metrics_off_by_default_no_listener(owner_context: ServiceContext) -> None:
    app = create_app(owner_context)
    assert getattr(app.state, METRICS_STATE_KEY, None) is None


def test_metrics_unknown_label_values_become_allowlisted_ones() -> None:
    metrics = ServiceMetrics(service="data", routes=["/v1/prompts/{record_id}"])
    metrics.observe("BREW", "/v1/prompts/MARKERPATH", 418, 0.1)
    text = metrics.exposition().decode()
    assert 'method="OTHER",route="unmatched"' in text and "MARKERPATH" not in text and "BREW" not in text


def test_metrics_series_checked_once_counted_every_time_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.service import metrics as metrics_module

    metrics = ServiceMetrics(service="data", routes=["/v1/prompts/{record_id}"])
    checked: list[object] = []
    label = metrics._label
    monkeypatch.setattr(metrics, "_label", lambda values: checked.append(values) or label(values))
    for _ in range(5):
        metrics.observe("GET", "/v1/prompts/{record_id}", 200, 0.01)
    text = metrics.exposition().decode()
    assert ('platform_http_requests_total{method="GET",route="/v1/prompts/{record_id}",service="data",'
            'status="200"} 5.0') in text
    assert len(checked) == 1  # the allowlist and the scrubber ran for the first request of the series only
    monkeypatch.setattr(metrics_module, "MAX_REMEMBERED_SERIES", 3)
    for status in range(400, 410):
        metrics.observe("GET", "/v1/prompts/{record_id}", status, 0.01)
    assert len(metrics._series) <= 3
    assert 'status="409"} 1.0' in metrics.exposition().decode()


@pytest.fixture
def traced(owner_context: ServiceContext) -> Iterator[tuple[TestClient, InMemorySpanExporter, FastAPI]]:
    exporter = InMemorySpanExporter()
    app = create_app(owner_context, observability=Observability(span_exporter=exporter))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http, exporter, app


def test_traces_markers_in_requests_none_in_spans(
    traced: tuple[TestClient, InMemorySpanExporter, FastAPI], issuer: TokenIssuer
) -> None:
    http, exporter, _ = traced
    org = register(http, issuer, "oli@o.example")
    exporter.clear()
    _send_markers(http, org)
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        exported = repr((span.name, dict(span.attributes or {}), span.events, span.links, span.status.description,
                         span.context, span.parent))
        for marker in (*MARKERS, str(org.id)):
            assert marker not in exported and marker.lower() not in exported.lower()
        assert format(span.context.trace_id, "032x") != TRACE_MARKER  # a client's traceparent is not taken
        assert span.parent is None
        assert set(span.attributes or {}) <= {"http.request.method", "http.route", "http.response.status_code"}
        assert not span.events and not span.links


def test_traces_spans_named_by_route_template(
    traced: tuple[TestClient, InMemorySpanExporter, FastAPI], issuer: TokenIssuer
) -> None:
    http, exporter, _ = traced
    org = register(http, issuer, "pam@p.example")
    exporter.clear()
    assert http.get(f"/v1/prompts/{uuid.uuid4()}", headers=org.headers).status_code == 404
    assert http.get("/elsewhere/123").status_code == 404
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["GET /v1/prompts/{record_id}", "GET"]
    first = exporter.get_finished_spans()[0]
    assert dict(first.attributes or {}) == {"http.request.method": "GET", "http.route": "/v1/prompts/{record_id}",
                                            "http.response.status_code": 404}


def test_docs_served_only_when_enabled(owner_context: ServiceContext) -> None:
    with TestClient(create_app(owner_context)) as http:
        assert http.get("/docs").status_code == 404
    with TestClient(create_app(owner_context, observability=Observability(docs=True))) as http:
        answer = http.get("/docs")
        assert answer.status_code == 200 and "swagger" in answer.text.lower()
        assert "/docs" not in http.get("/openapi.json").json()["paths"]


def test_observability_from_environment_defaults_off_and_parses() -> None:
    assert Observability.from_environment({}) == Observability()
    seen = Observability.from_environment({settings.METRICS_PORT: "9464", settings.TRACES: "true",
                                           settings.API_DOCS: "true", settings.METRICS_HOST: "10.0.0.5"})
    assert (seen.metrics_port, seen.metrics_host, seen.traces, seen.docs) == (9464, "10.0.0.5", True, True)
    with pytest.raises(ConfigurationError):
        Observability.from_environment({settings.METRICS_PORT: "70000"})
    with pytest.raises(ConfigurationError):
        Observability.from_environment({settings.TRACES: "maybe"})


def test_fastapi_native_telemetry_is_off_even_with_a_global_provider(
    owner_context: ServiceContext, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI's own telemetry records the path (ids), and on a validation failure the body: it follows whatever
    global provider the process has (e.g. one an OpenTelemetry agent installed). The service's spans are
    runtime.service.tracing's only."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with TestClient(create_app(owner_context), raise_server_exceptions=False) as http:
        org = register(http, issuer, "quin@q.example")
        _send_markers(http, org)
    assert exporter.get_finished_spans() == ()
