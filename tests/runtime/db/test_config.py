"""P5 on the client side: only sslmode=verify-full with a CA bundle file; anything weaker is refused
before a single byte goes to the server."""

import socket
from pathlib import Path

import pytest

from runtime import settings
from runtime.db import DatabaseSettings, require_verified_tls
from runtime.db.connect import connection_kwargs
from runtime.errors import ConfigurationError, InsecureConnectionError


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


@pytest.fixture
def environ(ca_file: Path) -> dict[str, str]:
    return {
        settings.DATABASE_HOST: "db.internal.example",
        settings.DATABASE_PORT: "5433",
        settings.DATABASE_NAME: "platform",
        settings.DATABASE_USER: "platform_app",
        settings.DATABASE_CA_BUNDLE: str(ca_file),
        settings.DATABASE_IAM_AUTH: "true",
    }


def test_settings_from_environment_reads_every_variable(environ: dict[str, str], ca_file: Path) -> None:
    db = DatabaseSettings.from_environment({**environ, settings.DATABASE_POOL_MAX_SIZE: "4"})
    params = db.libpq_params()
    assert (db.host, db.port, db.dbname, db.user, db.iam_auth, db.pool_max_size) == (
        "db.internal.example", 5433, "platform", "platform_app", True, 4
    )
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == str(ca_file)
    assert params["ssl_min_protocol_version"] == "TLSv1.2"


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer", "require", "verify-ca", "VERIFY-FULL"])
def test_settings_weak_sslmode_refused(environ: dict[str, str], sslmode: str) -> None:
    with pytest.raises(InsecureConnectionError, match="only sslmode=verify-full"):
        DatabaseSettings.from_environment({**environ, settings.DATABASE_SSLMODE: sslmode})


def test_settings_without_ca_bundle_refused(environ: dict[str, str]) -> None:
    del environ[settings.DATABASE_CA_BUNDLE]
    with pytest.raises(ConfigurationError, match=settings.DATABASE_CA_BUNDLE):
        DatabaseSettings.from_environment(environ)


@pytest.mark.parametrize("bundle", ["system", "/nonexistent/ca.pem"])
def test_settings_unusable_ca_bundle_refused(environ: dict[str, str], bundle: str) -> None:
    with pytest.raises(InsecureConnectionError):
        DatabaseSettings.from_environment({**environ, settings.DATABASE_CA_BUNDLE: bundle})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sslmode": "require"}, "only sslmode=verify-full"),
        ({"sslmode": None}, "libpq's default 'prefer' allows plaintext"),
        ({"ssl_min_protocol_version": "TLSv1.1"}, "below TLSv1.2"),
        ({"gssencmode": "require"}, "gssencmode"),
        ({"sslrootcert": None}, "no CA bundle"),
    ],
)
def test_require_verified_tls_weak_parameters_refused(
    ca_file: Path, overrides: dict[str, str | None], message: str
) -> None:
    params: dict[str, str | None] = {"sslmode": "verify-full", "sslrootcert": str(ca_file), **overrides}
    with pytest.raises(InsecureConnectionError, match=message):
        require_verified_tls(params)


def test_settings_weak_sslmode_refused_before_connecting(environ: dict[str, str]) -> None:
    """A listening socket sees no connection attempt: the refusal happens in the runtime."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        weak = {**environ, settings.DATABASE_HOST: "127.0.0.1", settings.DATABASE_PORT: str(port),
                settings.DATABASE_SSLMODE: "require"}
        with pytest.raises(InsecureConnectionError):
            DatabaseSettings.from_environment(weak)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_connection_kwargs_checks_the_final_parameters(environ: dict[str, str]) -> None:
    db = DatabaseSettings.from_environment(environ)
    object.__setattr__(db, "sslmode", "require")  # as if something mutated the frozen settings
    with pytest.raises(InsecureConnectionError):
        connection_kwargs(db, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [(settings.DATABASE_IAM_AUTH, "maybe"), (settings.DATABASE_PORT, "five"), (settings.DATABASE_PORT, "70000"),
     (settings.DATABASE_POOL_MIN_SIZE, "0"), (settings.DATABASE_HOST, "")],
)
def test_settings_malformed_variable_refused(environ: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(ConfigurationError):
        DatabaseSettings.from_environment({**environ, name: value})
