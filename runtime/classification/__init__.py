"""What is sensitive (P2): the two data classes, the table/column registry, and a marker for values."""

from runtime.classification.classes import DataClass, derived_class
from runtime.classification.platform import PLATFORM_REGISTRY
from runtime.classification.registry import (
    Column,
    ColumnKind,
    Registry,
    RegistryError,
    Table,
    blind_index,
    not_sensitive,
    sensitive,
    table,
)
from runtime.classification.values import Sensitive

__all__ = [
    "PLATFORM_REGISTRY",
    "Column",
    "ColumnKind",
    "DataClass",
    "Registry",
    "RegistryError",
    "Sensitive",
    "Table",
    "blind_index",
    "derived_class",
    "not_sensitive",
    "sensitive",
    "table",
]
