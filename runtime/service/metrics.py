"""Prometheus metrics of a service, with no personal data in them (P7).

    metrics = ServiceMetrics(service="data", routes=route_templates(app), pool=pool.get_stats, envelope=cipher.stats)
    metrics.observe("GET", "/v1/prompts/{record_id}", 200, 0.004)     # RequestContextMiddleware does this
    server = metrics.serve(port=9464, host="127.0.0.1")                  # GET /metrics on a listener of its own

What is exported:
- `platform_http_requests_total{service, method, route, status}` and
  `platform_http_request_duration_seconds{service, method, route}` (a histogram): `route` is the matched
  route's TEMPLATE (`/v1/{collection}/{record_id}`), never the path; a request no route matched counts as
  `unmatched`; a method outside the standard ones as `OTHER`.
- `platform_db_pool_*{pool}`: the psycopg pool's own statistics (size, available, waiting, and counters).
- `platform_data_key_cache_{hits,misses}_total`, `platform_kms_calls_total`: the envelope cipher's cache.

Every label value passes the telemetry allowlist (runtime.telemetry: `metric_label_schema`, an enum of the
app's own route templates) and the scrubber before it becomes a label, so a value a client sent can never be
one: the label sets are bounded by the code, not by the traffic.

Who may read it: the metrics listen on their own port (PLATFORM_METRICS_PORT), bound to 127.0.0.1 by default,
never on the API's port, so the load balancers, which forward to the API's port only, never route it (a
browser path on the public load balancer would otherwise reach it after sign-in). A scraper in the same task
(a collector sidecar) reads it; binding 0.0.0.0 is for a scraper in the VPC, which the task's security
group must then admit on that port alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest, start_http_server
from prometheus_client.registry import Collector

from runtime.errors import TelemetryError
from runtime.telemetry import Scrubber
from runtime.telemetry.events import HTTP_METHODS, OTHER_METHOD, UNMATCHED_ROUTE, metric_label_schema

# Seconds: from a cache hit's read (~1 ms) to a slow batch or a pool wait (seconds).
MAX_REMEMBERED_SERIES: Final = 4096  # (method, route, status) label sets checked; emptied when full
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# psycopg_pool's get_stats() keys: gauges (a level now) and counters (since the pool opened).
POOL_GAUGES: Final = {"pool_min": "configured minimum", "pool_max": "configured maximum",
                      "pool_size": "connections open or being opened", "pool_available": "idle connections",
                      "requests_waiting": "requests waiting for a connection"}
POOL_COUNTERS: Final = {"requests_num": "connection requests", "requests_queued": "requests that had to wait",
                        "requests_errors": "requests that failed (timeout, pool closed)",
                        "requests_wait_ms": "time spent waiting for a connection, ms",
                        "connections_num": "connections opened", "connections_errors": "failed connection attempts",
                        "connections_lost": "connections found broken"}


class EnvelopeStatsLike(Protocol):
    @property
    def cache_hits(self) -> int: ...
    @property
    def cache_misses(self) -> int: ...
    @property
    def keyring_calls(self) -> int: ...


@dataclass(frozen=True)
class Pool:
    name: str  # a slug of the code ("data-api", "data-keys"), never configuration a client can touch
    stats: Callable[[], Mapping[str, int]]  # psycopg_pool.ConnectionPool.get_stats


class _ResourceCollector(Collector):
    def __init__(self, pools: Sequence[Pool], envelope: Callable[[], EnvelopeStatsLike] | None) -> None:
        self._pools = tuple(pools)
        self._envelope = envelope

    def collect(self) -> Iterator[Metric]:
        if self._pools:
            gauges = {k: GaugeMetricFamily(f"platform_db_pool_{k}", f"database pool: {d}", labels=["pool"])
                      for k, d in POOL_GAUGES.items()}
            counters = {k: CounterMetricFamily(f"platform_db_pool_{k}", f"database pool: {d}", labels=["pool"])
                        for k, d in POOL_COUNTERS.items()}
            for pool in self._pools:
                stats = pool.stats()
                for key, family in gauges.items():
                    family.add_metric([pool.name], float(stats.get(key, 0)))
                for key, counter in counters.items():
                    counter.add_metric([pool.name], float(stats.get(key, 0)))
            yield from gauges.values()
            yield from counters.values()
        if self._envelope is not None:
            cache = self._envelope()
            for name, value, what in (("data_key_cache_hits", cache.cache_hits, "data-key cache hits"),
                                      ("data_key_cache_misses", cache.cache_misses, "data-key cache misses (loads)"),
                                      ("kms_calls", cache.keyring_calls, "KMS calls of the keyring")):
                total = CounterMetricFamily(f"platform_{name}", what)
                total.add_metric([], float(value))
                yield total


class ServiceMetrics:
    def __init__(
        self,
        *,
        service: str,
        routes: Iterable[str],
        pools: Sequence[Pool] = (),
        envelope: Callable[[], EnvelopeStatsLike] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._schema = metric_label_schema(routes)
        self._routes = self._schema.fields["route"].allowed
        self._scrubber = Scrubber()
        self._service = self._label({"service": service, "method": OTHER_METHOD, "route": UNMATCHED_ROUTE})["service"]
        self._requests = Counter("platform_http_requests", "HTTP requests answered, by route template and status",
                                 ["service", "method", "route", "status"], registry=self.registry)
        self._latency = Histogram("platform_http_request_duration_seconds",
                                  "time to answer, by route template", ["service", "method", "route"],
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_ResourceCollector(pools, envelope))
        # The label checks and the children look-ups of each (method, route, status) seen, done once: they cost
        # ~85 us a request (three scrubber scans), more than the rest of a trivial request.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._servers: list[Any] = []
        self.address: tuple[str, int] | None = None  # where serve() listens
        self._lock = threading.Lock()

    def _label(self, values: Mapping[str, object]) -> dict[str, str]:
        """The allowlist (schema), then the scrubber: a value that is not the code's own never becomes a label."""
        normalised = self._schema.normalise(values)
        for name, value in normalised.items():
            if isinstance(value, str):
                self._scrubber.check(value, field=f"metric label {name}")
        return {k: str(v) for k, v in normalised.items()}

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER_METHOD
        route = route if route in self._routes else UNMATCHED_ROUTE
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            try:
                labels = self._label({"service": self._service, "method": method, "route": route, "status": status})
            except TelemetryError:  # never: the values above are the allowlist's own
                return
            series = (self._requests.labels(labels["service"], labels["method"], labels["route"], labels["status"]),
                      self._latency.labels(labels["service"], labels["method"], labels["route"]))
            if len(self._series) >= MAX_REMEMBERED_SERIES:
                self._series.clear()
            self._series[key] = series
        series[0].inc()
        series[1].observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        """The text format a scrape gets."""
        return generate_latest(self.registry)

    def serve(self, *, port: int, host: str) -> tuple[str, int]:
        """Serve GET /metrics on its own listener (a daemon thread); returns the bound address."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        with self._lock:
            self._servers.append(server)
        bound = server.server_address
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    def close(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()


def route_templates(app: Any) -> list[str]:
    """Every route template of a FastAPI app, included routers' too (what `scope["route"].path` holds once
    matched, the routers' prefixes in it)."""
    return sorted({path for route in iter_route_contexts(app.routes) if isinstance(path := route.path, str)})


__all__ = ["LATENCY_BUCKETS", "Pool", "ServiceMetrics", "route_templates"]
