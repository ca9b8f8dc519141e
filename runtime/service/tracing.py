"""OpenTelemetry traces of a service, with no personal data in them (P7). Off unless PLATFORM_TRACES=true.

    provider = install_tracing(app, service="data", routes=route_templates(app))          # OTLP/HTTP
    provider = install_tracing(app, ..., exporter=InMemorySpanExporter(), batch=False)   # tests

The maintained FastAPI instrumentation makes one server span per request, named by the matched route's
TEMPLATE (`GET /v1/{collection}/{record_id}`); its send/receive child spans are off. The OTLP exporter reads
the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS, _TIMEOUT,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, ...); this module sets no global provider.

What leaves the process: every span passes `AllowlistSpanExporter` on its way to the exporter, which keeps
the method, the route template (one of the app's own, through the telemetry allowlist) and the status code,
and nothing else: no path, query string, URL, host, peer address, user agent, header or body attribute, no
events (an exception's message can quote data), no links, no status text. The span's name is rebuilt from the
kept attributes. The propagation headers a client sends (traceparent, tracestate, baggage) are removed before
the instrumentation reads them, so a trace starts at the service and no client-chosen id or baggage reaches
a span (the load balancer's own X-Amzn-Trace-Id is not read either).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status

from runtime.errors import TelemetryError
from runtime.service.middleware import ASGIApp, Receive, Scope, Send
from runtime.telemetry import Scrubber
from runtime.telemetry.events import HTTP_METHODS, OTHER_METHOD, UNMATCHED_ROUTE, metric_label_schema

PROPAGATION_HEADERS: Final = frozenset({b"traceparent", b"tracestate", b"baggage"})
# The attribute names the instrumentation uses for what is kept (old and new HTTP semantic conventions).
METHOD_KEYS: Final = ("http.request.method", "http.method")
ROUTE_KEY: Final = "http.route"
STATUS_KEYS: Final = ("http.response.status_code", "http.status_code")


class AllowlistSpanExporter(SpanExporter):
    """Hands `exporter` a copy of each span with only allowlisted attributes (method, route template, status)."""

    def __init__(self, exporter: SpanExporter, *, service: str, routes: Iterable[str]) -> None:
        self._exporter = exporter
        self._schema = metric_label_schema(routes)
        self._routes = self._schema.fields["route"].allowed
        self._service = service
        self._scrubber = Scrubber()

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        source = span.attributes or {}
        method = next((str(source[k]) for k in METHOD_KEYS if k in source), "")
        method = method if method in HTTP_METHODS else OTHER_METHOD
        route = source.get(ROUTE_KEY)
        route = route if isinstance(route, str) and route in self._routes else UNMATCHED_ROUTE
        status = next((v for k in STATUS_KEYS if isinstance(v := source.get(k), int) and not isinstance(v, bool)),
                      None)
        values: dict[str, object] = {"service": self._service, "method": method, "route": route}
        if status is not None:
            values["status"] = status
        try:
            kept = self._schema.normalise(values)
            for name, value in kept.items():
                if isinstance(value, str):
                    self._scrubber.check(value, field=f"span attribute {name}")
        except TelemetryError:
            kept = {"service": self._service, "method": OTHER_METHOD, "route": UNMATCHED_ROUTE}
        attributes: dict[str, Any] = {"http.request.method": kept["method"]}
        if kept["route"] != UNMATCHED_ROUTE:
            attributes[ROUTE_KEY] = kept["route"]
        if "status" in kept:
            attributes["http.response.status_code"] = kept["status"]
        name = f"{kept['method']} {kept['route']}" if ROUTE_KEY in attributes else str(kept["method"])
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=(),
            links=(),
            kind=span.kind,
            status=Status(span.status.status_code),  # the code only: a description can quote an exception
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([self._clean(span) for span in spans])

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class StripPropagation:
    """Removes the W3C propagation headers from a request before anything reads them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            headers = scope.get("headers", ())
            if any(name in PROPAGATION_HEADERS for name, _ in headers):
                scope = {**scope, "headers": [(n, v) for n, v in headers if n not in PROPAGATION_HEADERS]}
        await self.app(scope, receive, send)


def install_tracing(
    app: FastAPI,
    *,
    service: str,
    routes: Iterable[str],
    exporter: SpanExporter | None = None,
    batch: bool = True,
) -> TracerProvider:
    """Instrument `app`; spans go through the allowlist to `exporter` (default: OTLP/HTTP from OTEL_*)."""
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"platform-{service}"}))
    provider = TracerProvider(resource=resource)
    allowlisted = AllowlistSpanExporter(exporter, service=service, routes=routes)
    provider.add_span_processor(BatchSpanProcessor(allowlisted) if batch else SimpleSpanProcessor(allowlisted))
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),  # metrics are runtime/service/metrics.py's
        exclude_spans=["receive", "send"],
    )
    build = app.build_middleware_stack  # the instrumented stack; the propagation headers go before it

    def build_stripped(self: FastAPI) -> ASGIApp:
        return StripPropagation(build())

    app.build_middleware_stack = types.MethodType(build_stripped, app)  # type: ignore[method-assign]
    return provider


__all__ = ["AllowlistSpanExporter", "StripPropagation", "install_tracing"]
