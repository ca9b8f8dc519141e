"""The throwaway PostgreSQL cluster the database benchmarks share: TLS on, like the tests and production.

Durability is off (fsync, synchronous_commit) for the throwaway data; it applies to the runtime's
path and to its baselines alike, so the ratios still compare like with like.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.platform_db import PlatformDatabase, migrated_database
from tests.support.postgres import FAST_SETTINGS, PostgresCluster

BENCH_SETTINGS = {**FAST_SETTINGS, "shared_buffers": "768MB", "max_wal_size": "4GB", "checkpoint_timeout": "30min"}


@contextmanager
def bench_database() -> Iterator[PlatformDatabase]:
    with PostgresCluster.start(settings=BENCH_SETTINGS) as cluster:
        yield migrated_database(cluster, "platform")
