"""The pool: verified TLS for every connection, a password per new connection, reset on return."""

import uuid
from pathlib import Path

import pytest

from runtime.db import open_pool
from runtime.db.schema import APP_ROLE
from runtime.errors import TlsVerificationError
from tests.support.platform_db import PlatformDatabase
from tests.support.postgres import make_certificates

pytestmark = pytest.mark.postgres


class CountingPassword:
    def __init__(self, value: str) -> None:
        self._value = value
        self.calls = 0

    def password(self) -> str:
        self.calls += 1
        return self._value


def test_pool_new_connections_each_fetch_a_password(platform_db: PlatformDatabase) -> None:
    source = CountingPassword(platform_db.passwords[APP_ROLE])
    pool = open_pool(platform_db.settings(APP_ROLE, pool_min_size=2, pool_max_size=2), source, name="count")
    try:
        assert source.calls == 2
        with pool.connection() as conn:
            assert conn.autocommit  # owner transactions send their own BEGIN
    finally:
        pool.close()


def test_pool_returned_connection_is_reset(platform_db: PlatformDatabase) -> None:
    """A session-level owner binding (is_local=false, a bug) does not survive the return to the pool."""
    owner = str(uuid.uuid4())
    pool = open_pool(platform_db.settings(APP_ROLE, pool_min_size=1, pool_max_size=1),
                     platform_db.password(APP_ROLE), name="reset")
    try:
        with pool.connection() as conn:
            pid = conn.info.backend_pid
            conn.execute("SELECT set_config('platform.owner_id', %s, false)", (owner,))
            conn.execute("SET application_name = 'leaky'")
        with pool.connection() as conn:
            assert conn.info.backend_pid == pid  # the same server session, reset
            bound, name = conn.execute(
                "SELECT current_setting('platform.owner_id', true), current_setting('application_name')"
            ).fetchone()
            assert bound in (None, "")
            assert name != "leaky"
    finally:
        pool.close()


def test_open_pool_wrong_ca_raises_the_tls_error(platform_db: PlatformDatabase, tmp_path: Path) -> None:
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(make_certificates().ca_pem)
    with pytest.raises(TlsVerificationError):
        open_pool(platform_db.settings(APP_ROLE, ca_bundle=other_ca), platform_db.password(APP_ROLE),
                  name="bad-ca", open_timeout=1.0)
