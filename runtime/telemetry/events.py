"""The platform's allowlisted telemetry and audit events, built from the classification registry."""

from collections.abc import Iterable

from runtime.classification.platform import PLATFORM_REGISTRY
from runtime.classification.registry import Registry
from runtime.telemetry.schema import EventSchema, enum_field, id_field, integer_field, number_field

AUDIT_ACTIONS = ("read", "write", "delete", "export", "erase")


def audit_schemas(registry: Registry = PLATFORM_REGISTRY) -> tuple[EventSchema, ...]:
    """P14: who touched which owner's which column of which row; names come from the registry."""
    tables = [t.name for t in registry]
    columns = {c for t in registry for c in t.columns}
    return (
        EventSchema.of(
            "data.accessed",
            actor_id=id_field(),
            owner_id=id_field(),
            action=enum_field(AUDIT_ACTIONS),
            table=enum_field(tables),
            column=enum_field(columns, required=False),
            row_id=id_field(required=False),
        ),
        EventSchema.of("owner.erased", actor_id=id_field(), owner_id=id_field()),
    )


TELEMETRY_SCHEMAS = (
    EventSchema.of(
        "envelope.cache",
        hits=integer_field(),
        misses=integer_field(),
        kms_calls=integer_field(),
    ),
    EventSchema.of(
        "request.completed",
        service=id_field(),
        operation=id_field(),
        status=integer_field(),
        duration_ms=number_field(),
        request_id=id_field(required=False),  # generated per request by the service (a UUID), never the client's
    ),
)


# Metric labels and span attributes of a request (runtime/service/metrics.py, tracing.py; P7): the method (a
# standard one, else OTHER), the matched route's TEMPLATE (one of the app's own, else "unmatched": never a
# path) and the status. Bounded by the code, so nothing a client sends can become a label or an attribute.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OTHER_METHOD = "OTHER"
UNMATCHED_ROUTE = "unmatched"


def metric_label_schema(routes: Iterable[str]) -> EventSchema:
    """The allowlist of a service's request metric labels: `routes` are the app's route templates."""
    return EventSchema.of(
        "request.metric",
        service=id_field(),
        method=enum_field((*HTTP_METHODS, OTHER_METHOD)),
        route=enum_field((*routes, UNMATCHED_ROUTE)),
        status=integer_field(required=False),
    )
