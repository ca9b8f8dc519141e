"""The platform's allowlisted telemetry and audit events, built from the classification registry."""

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
