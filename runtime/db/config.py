"""Database connection settings, read from the container environment, and the TLS floor they must meet (P5).

Pure: no psycopg. The only accepted TLS setting is `sslmode=verify-full` with a CA bundle file, so
the client checks both the certificate chain and the host name; anything weaker is refused before
a byte is sent (`InsecureConnectionError`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from runtime import settings
from runtime.environment import flag, integer, required, text
from runtime.errors import ConfigurationError, InsecureConnectionError

REQUIRED_SSLMODE: Final = "verify-full"
MIN_TLS_VERSION: Final = "TLSv1.2"
_TLS_VERSIONS: Final = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    host: str
    dbname: str
    user: str
    ca_bundle: Path
    port: int = settings.DEFAULT_DATABASE_PORT
    sslmode: str = REQUIRED_SSLMODE
    iam_auth: bool = False
    password_secret_id: str | None = None
    pool_min_size: int = settings.DEFAULT_DATABASE_POOL_MIN_SIZE
    pool_max_size: int = settings.DEFAULT_DATABASE_POOL_MAX_SIZE
    hostaddr: str | None = None  # skip DNS (tests); the certificate is still checked against `host`
    connect_timeout: int = 10
    application_name: str = "platform-runtime"

    def __post_init__(self) -> None:
        for name in ("host", "dbname", "user"):
            if not getattr(self, name):
                raise ConfigurationError(f"database setting {name} is empty; set it")
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"database port {self.port} is out of range")
        if not 1 <= self.pool_min_size <= self.pool_max_size:
            raise ConfigurationError("database pool sizes need 1 <= min size <= max size")
        require_verified_tls(self.libpq_params())

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "DatabaseSettings":
        def need(name: str) -> str:
            return required(environ, name, "the value the service stack sets on every task")

        def number(name: str, default: int) -> int:
            return integer(environ, name, default)

        return cls(
            host=need(settings.DATABASE_HOST),
            port=number(settings.DATABASE_PORT, settings.DEFAULT_DATABASE_PORT),
            dbname=need(settings.DATABASE_NAME),
            user=need(settings.DATABASE_USER),
            ca_bundle=Path(need(settings.DATABASE_CA_BUNDLE)),
            sslmode=text(environ, settings.DATABASE_SSLMODE) or REQUIRED_SSLMODE,
            iam_auth=flag(environ, settings.DATABASE_IAM_AUTH),
            password_secret_id=text(environ, settings.DATABASE_PASSWORD_SECRET_ID) or None,
            pool_min_size=number(settings.DATABASE_POOL_MIN_SIZE, settings.DEFAULT_DATABASE_POOL_MIN_SIZE),
            pool_max_size=number(settings.DATABASE_POOL_MAX_SIZE, settings.DEFAULT_DATABASE_POOL_MAX_SIZE),
        )

    def libpq_params(self) -> dict[str, str | int]:
        """Connection parameters without the password (that comes per connection)."""
        params: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": self.sslmode,
            "sslrootcert": str(self.ca_bundle),
            "ssl_min_protocol_version": MIN_TLS_VERSION,
            "gssencmode": "disable",  # TLS is the one transport encryption we verify
            "connect_timeout": self.connect_timeout,
            "application_name": self.application_name,
        }
        if self.hostaddr:
            params["hostaddr"] = self.hostaddr
        return params


def require_verified_tls(params: Mapping[str, object]) -> None:
    """Refuse connection parameters weaker than verify-full TLS with a CA bundle file (P5)."""
    sslmode = str(params.get("sslmode") or "")
    if sslmode != REQUIRED_SSLMODE:
        shown = sslmode or "unset (libpq's default 'prefer' allows plaintext)"
        raise InsecureConnectionError(
            f"sslmode {shown} is refused: only sslmode={REQUIRED_SSLMODE} is allowed, which checks the server's "
            f"certificate and host name (P5); set {settings.DATABASE_SSLMODE}={REQUIRED_SSLMODE} or unset it"
        )
    root = str(params.get("sslrootcert") or "")
    if not root or root == "system":
        raise InsecureConnectionError(
            f"no CA bundle to verify the database with: set {settings.DATABASE_CA_BUNDLE} to the bundle file "
            "(the RDS global bundle on AWS)"
        )
    if not Path(root).is_file():
        raise InsecureConnectionError(
            f"the CA bundle {root} does not exist or is not a file; fix {settings.DATABASE_CA_BUNDLE}"
        )
    floor = str(params.get("ssl_min_protocol_version") or "")
    if floor and floor in _TLS_VERSIONS and _TLS_VERSIONS.index(floor) < _TLS_VERSIONS.index(MIN_TLS_VERSION):
        raise InsecureConnectionError(f"ssl_min_protocol_version {floor} is below {MIN_TLS_VERSION}; raise it")
    if str(params.get("gssencmode") or "") == "require":
        raise InsecureConnectionError("gssencmode=require replaces the verified TLS connection; remove it")
