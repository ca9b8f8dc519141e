"""Session-wide fixtures: ONE throwaway PostgreSQL cluster (TLS only) for every test that asks for it.

The cluster starts lazily, the first time a test uses a database fixture, so the infrastructure
tests never pay for it, and it is stopped and removed at the end of the session. Layout: a migrated
template database that is never connected to after migration, the shared `platform` database cloned
from it, and `fresh_db` (a clone of its own) for tests that damage their database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.platform_db import PlatformDatabase, copy_of, migrated_database
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def template_db(pg_cluster: PostgresCluster) -> PlatformDatabase:
    return migrated_database(pg_cluster, "platform_template")


@pytest.fixture(scope="session")
def platform_db(template_db: PlatformDatabase) -> PlatformDatabase:
    """The shared database: tests keep to their own random owners, so they never see each other's rows."""
    return copy_of(template_db, "platform")


@pytest.fixture
def fresh_db(template_db: PlatformDatabase) -> PlatformDatabase:
    """A database of its own, for a test that tampers with it or breaks its schema."""
    return copy_of(template_db, f"t_{uuid.uuid4().hex[:12]}")
