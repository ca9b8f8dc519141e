"""The two data classes of P2 (defined in runtime/contract.py with the tag the stacks put on stores), and the
rule for derived data."""

from collections.abc import Iterable

from runtime.contract import DataClass

__all__ = ["DataClass", "derived_class"]


def derived_class(sources: Iterable[DataClass]) -> DataClass:
    """Class of a value computed from `sources`: SENSITIVE if any source is (P2).

    No sources means nothing is known about the value, so it is SENSITIVE too (fail closed).
    """
    classes = list(sources)
    if classes and all(c is DataClass.NOT_SENSITIVE for c in classes):
        return DataClass.NOT_SENSITIVE
    return DataClass.SENSITIVE
