"""What is sensitive (P2): the two data classes, the table/column registry, and a marker for values."""

from runtime.classification.classes import DataClass, derived_class
from runtime.classification.platform import PLATFORM_REGISTRY
from runtime.classification.registry import Column, Registry, RegistryError, Table, not_sensitive, sensitive, table
from runtime.classification.values import Sensitive

__all__ = [
    "PLATFORM_REGISTRY",
    "Column",
    "DataClass",
    "Registry",
    "RegistryError",
    "Sensitive",
    "Table",
    "derived_class",
    "not_sensitive",
    "sensitive",
    "table",
]
