"""Erasure planning (P10), pure: in which order tables are emptied, and the steps of an erasure.

Children go before their parents, so deleting a row never cascades (nor sets references to NULL) behind
the job's back, and every deleted row is counted in the table it was in. The owners' own table is last.
"""

from collections.abc import Iterable, Mapping
from enum import Enum

from runtime.errors import LifecycleError


class ErasureState(Enum):
    REQUESTED = "requested"  # recorded by the data service: writes are refused from here on
    STARTED = "started"  # the job fenced writers out and is deleting
    COMPLETE = "complete"  # rows, keys and exports gone; the receipt is issued


def deletion_order(tables: Iterable[str], references: Iterable[tuple[str, str]], *, last: str) -> tuple[str, ...]:
    """`tables` with every referencing (child) table before the tables it references, and `last` at the end.

    `references` holds (child, parent) pairs, e.g. from pg_constraint; pairs naming other tables, and a
    table referencing itself, are ignored. Ties are broken by name, so the order is stable.
    """
    names = set(tables)
    parents: dict[str, set[str]] = {t: set() for t in names}
    children: dict[str, set[str]] = {t: set() for t in names}
    for child, parent in references:
        if child in names and parent in names and child != parent:
            parents[child].add(parent)
            children[parent].add(child)
    order: list[str] = []
    waiting: Mapping[str, set[str]] = {t: set(children[t]) for t in names}
    ready = sorted(t for t in names if not waiting[t])
    while ready:
        table = ready.pop(0)
        order.append(table)
        for parent in parents[table]:
            waiting[parent].discard(table)
            if not waiting[parent] and parent not in order and parent not in ready:
                ready.append(parent)
                ready.sort()
    if len(order) != len(names):
        stuck = sorted(names - set(order))
        raise LifecycleError(f"the foreign keys between {', '.join(stuck)} form a cycle; erasure cannot order them")
    if last in order:
        order.remove(last)
        order.append(last)
    return tuple(order)
