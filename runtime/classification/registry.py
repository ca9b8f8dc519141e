"""Registry of every table and column the platform stores, with its data class (P2).

Anything not declared is SENSITIVE. The registry is immutable; `with_table` returns an
extended copy, so a later module (the Postgres schema) can build on the platform registry.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from runtime.classification.classes import DataClass, derived_class
from runtime.errors import PlatformError


class RegistryError(PlatformError):
    """A table or column was declared twice or with an invalid name."""


class ColumnKind(Enum):
    """How a column holds its value. Only a SENSITIVE column may be a blind index."""

    VALUE = "value"  # the value itself: envelope ciphertext when SENSITIVE (P6), plain when NOT_SENSITIVE
    # A keyed, truncated HMAC of a SENSITIVE value under a key of its organisation (runtime/envelope/blind_index.py):
    # derived from SENSITIVE data, so SENSITIVE, but not ciphertext; it answers equality filters only.
    BLIND_INDEX = "blind index"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    data_class: DataClass
    why: str = ""  # one line: why this class (reviewers read it in the compliance report)
    kind: ColumnKind = ColumnKind.VALUE

    @property
    def is_sensitive(self) -> bool:
        return self.data_class is DataClass.SENSITIVE

    @property
    def is_blind_index(self) -> bool:
        return self.kind is ColumnKind.BLIND_INDEX


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: Mapping[str, Column]
    description: str = ""

    @property
    def data_class(self) -> DataClass:
        """A table is SENSITIVE as soon as one of its columns is (the store holds that data)."""
        return derived_class(c.data_class for c in self.columns.values())

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """The columns whose values the application envelope-encrypts (P6); blind indexes are not among them."""
        return tuple(c.name for c in self.columns.values() if c.is_sensitive and not c.is_blind_index)

    @property
    def blind_index_columns(self) -> tuple[str, ...]:
        """SENSITIVE columns holding keyed blind indexes of other columns (filters on encrypted values)."""
        return tuple(c.name for c in self.columns.values() if c.is_blind_index)


def table(name: str, description: str, *columns: Column) -> Table:
    """Build a `Table`, refusing duplicate or empty column names."""
    _check_identifier(name, "table")
    by_name: dict[str, Column] = {}
    for column in columns:
        _check_identifier(column.name, f"column of {name}")
        if column.name in by_name:
            raise RegistryError(f"column {name}.{column.name} is declared twice; keep one declaration")
        by_name[column.name] = column
    return Table(name=name, columns=MappingProxyType(by_name), description=description)


def sensitive(name: str, why: str = "") -> Column:
    return Column(name, DataClass.SENSITIVE, why)


def blind_index(name: str, why: str) -> Column:
    """A keyed blind index of a SENSITIVE column: SENSITIVE itself (derived from user data, P2)."""
    return Column(name, DataClass.SENSITIVE, why, ColumnKind.BLIND_INDEX)


def not_sensitive(name: str, why: str) -> Column:
    """NOT_SENSITIVE must say why: it is the exception that needs a reason."""
    return Column(name, DataClass.NOT_SENSITIVE, why)


@dataclass(frozen=True, slots=True)
class Registry:
    _tables: Mapping[str, Table] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, tables: Iterable[Table]) -> "Registry":
        registry = cls()
        for t in tables:
            registry = registry.with_table(t)
        return registry

    def with_table(self, new: Table) -> "Registry":
        """A copy of this registry that also declares `new`."""
        if new.name in self._tables:
            raise RegistryError(f"table {new.name} is already declared; extend its declaration instead")
        return Registry(MappingProxyType({**self._tables, new.name: new}))

    def classify(self, table_name: str, column_name: str) -> DataClass:
        """The class of `table.column`; SENSITIVE when undeclared (P2: unclassified is SENSITIVE)."""
        t = self._tables.get(table_name)
        column = t.columns.get(column_name) if t is not None else None
        return column.data_class if column is not None else DataClass.SENSITIVE

    def is_declared(self, table_name: str, column_name: str | None = None) -> bool:
        t = self._tables.get(table_name)
        if t is None:
            return False
        return column_name is None or column_name in t.columns

    def table(self, name: str) -> Table | None:
        return self._tables.get(name)

    def __iter__(self) -> Iterator[Table]:
        return iter(self._tables.values())

    def __len__(self) -> int:
        return len(self._tables)


def _check_identifier(name: str, what: str) -> None:
    # Names become SQL identifiers later: keep them plain lower-case snake_case.
    if not name or not name.replace("_", "a").isalnum() or not name.islower() or name[0].isdigit():
        raise RegistryError(f"{what} name {name!r} must be lower-case snake_case (letters, digits, _)")
