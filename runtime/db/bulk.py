"""Bulk ingest on one connection: seal (encrypt) the next batch while the database stores this one.

    written = ingest(database, records, batches)   # batches: Iterable[Batch]

Each batch is one owner-bound transaction: its rows, its audit event, its commit. Sealing is CPU
work in this process and storing is the server's, so running them side by side (one helper thread,
which the GIL allows because the writer waits on the socket with the GIL released) uses both.
At most one sealed batch waits in memory.
"""

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from runtime.db.records import Records, SealedRows
from runtime.db.session import Database, OwnerScope


@dataclass(frozen=True, slots=True)
class Batch:
    principal: OwnerScope
    table: str
    rows: Sequence[Mapping[str, object]]


def _sealed(records: Records, batches: Iterable[Batch]) -> Iterator[tuple[Batch, SealedRows]]:
    """Yield each batch sealed, having started sealing the next one already."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seal") as sealer:
        pending: tuple[Batch, Future[SealedRows]] | None = None
        for batch in batches:
            future = sealer.submit(records.seal, batch.principal.owner_id, batch.table, batch.rows)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def ingest(database: Database, records: Records, batches: Iterable[Batch]) -> list[uuid.UUID]:
    """Write every batch in its own owner-bound, audited transaction; return all new ids in order."""
    written: list[uuid.UUID] = []
    for batch, sealed in _sealed(records, batches):
        with database.owner_transaction(batch.principal) as tx:
            written.extend(records.write_sealed(tx, sealed))
    return written
