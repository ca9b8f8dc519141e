"""A box that marks a value as SENSITIVE wherever it travels in the process."""

from typing import Generic, TypeVar

T = TypeVar("T")


class Sensitive(Generic[T]):
    """Holds a SENSITIVE value. Its repr/str never show the value, so it can't leak into logs
    by accident, and NOT_SENSITIVE sinks refuse it with `SensitiveDataError`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        """The value itself, for code that processes it inside the cluster (P7)."""
        return self._value

    def __repr__(self) -> str:
        return "Sensitive(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)
