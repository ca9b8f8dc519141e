"""P5 against the real server: it refuses plaintext, and the client verifies its certificate."""

from pathlib import Path

import psycopg
import pytest

from runtime.db import StaticPassword, connect
from runtime.db.schema import APP_ROLE
from runtime.errors import AuthenticationFailedError, TlsVerificationError
from tests.support.platform_db import PlatformDatabase
from tests.support.postgres import make_certificates

pytestmark = pytest.mark.postgres


def test_server_plaintext_connection_refused(platform_db: PlatformDatabase) -> None:
    cluster = platform_db.cluster
    plaintext = cluster.conninfo(user="postgres", password=cluster.superuser_password, sslmode="disable")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plaintext)


def test_connect_verify_full_uses_tls_12_or_newer(platform_db: PlatformDatabase) -> None:
    with platform_db.connect(APP_ROLE) as conn:
        ssl, version = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")


def test_connect_wrong_ca_fails_verification(platform_db: PlatformDatabase, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(make_certificates().ca_pem)
    with pytest.raises(TlsVerificationError, match="CA_BUNDLE"):
        connect(platform_db.settings(APP_ROLE, ca_bundle=other_ca), platform_db.password(APP_ROLE))


def test_connect_wrong_host_name_fails_verification(platform_db: PlatformDatabase) -> None:
    """The certificate names localhost; a client that asked for another host must not accept it."""
    settings = platform_db.settings(APP_ROLE, host="db.example.com")  # hostaddr still 127.0.0.1
    with pytest.raises(TlsVerificationError):
        connect(settings, platform_db.password(APP_ROLE))


def test_connect_wrong_password_authentication_failed(platform_db: PlatformDatabase) -> None:
    with pytest.raises(AuthenticationFailedError):
        connect(platform_db.settings(APP_ROLE), StaticPassword("not-the-password"))
