"""What an export holds: one file per SENSITIVE table, its columns in a fixed order, each with its kind and
data class (P2), taken from the classification registry and the record tables so a new table is exported
(and erased) without touching this package.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from runtime.classification import DataClass, Registry
from runtime.db.schema import CREATED_AT, DATABASE_REGISTRY, RECORD_TABLES, RecordTable


class ColumnKind(Enum):
    UUID = "uuid"  # platform-generated id, canonical 36-character text
    TIMESTAMP = "timestamp"  # ISO 8601 with microseconds and UTC offset
    BYTES = "bytes"  # a SENSITIVE value: text when it is UTF-8, else base64 (see encoding.py)


@dataclass(frozen=True, slots=True)
class ExportColumn:
    name: str
    kind: ColumnKind
    data_class: DataClass


@dataclass(frozen=True, slots=True)
class TableLayout:
    name: str
    description: str
    columns: tuple[ExportColumn, ...]
    record: RecordTable

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def table_layout(record: RecordTable, registry: Registry = DATABASE_REGISTRY) -> TableLayout:
    """Columns as exported: id, created_at, references (uuids), then the SENSITIVE values. The owner id is
    left out: it is the same on every row and stated once in the manifest."""
    declared = registry.table(record.name)
    description = declared.description if declared is not None else ""

    def column(name: str, kind: ColumnKind) -> ExportColumn:
        return ExportColumn(name, kind, registry.classify(record.name, name))

    columns = (
        column("id", ColumnKind.UUID),
        column(CREATED_AT, ColumnKind.TIMESTAMP),
        *(column(c, ColumnKind.UUID) for c in record.reference_columns),
        *(column(c, ColumnKind.BYTES) for c in record.sensitive_columns),
    )
    return TableLayout(record.name, description, columns, record)


def export_layouts(
    tables: Mapping[str, RecordTable] = RECORD_TABLES, registry: Registry = DATABASE_REGISTRY
) -> tuple[TableLayout, ...]:
    """Every SENSITIVE table, the owners' own table first, then by name."""
    ordered = sorted(tables.values(), key=lambda t: (not t.is_owner_table, t.name))
    return tuple(table_layout(t, registry) for t in ordered)
