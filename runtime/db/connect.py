"""Connections and the pool: verified TLS only (P5), a fresh password per new connection, reset on return.

    pool = open_pool(settings, password_source)
    database = Database(pool, ledger)

Every connection goes through `connection_kwargs`, which re-checks the TLS floor on the final
parameters, so no code path can connect with a weaker setting.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from runtime.db.config import DatabaseSettings, require_verified_tls
from runtime.db.credentials import PasswordSource
from runtime.db.errors import translated
from runtime.errors import DatabaseUnavailableError

Connection = psycopg.Connection[Any]


class ConnectionSource(Protocol):
    """Lends connections: `psycopg_pool.ConnectionPool` is one; tests and tools can pass their own."""

    def connection(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...


def connection_kwargs(settings: DatabaseSettings, passwords: PasswordSource | None) -> dict[str, Any]:
    """libpq parameters for ONE new connection: the TLS floor checked, the password fetched now."""
    params: dict[str, Any] = settings.libpq_params()
    require_verified_tls(params)
    if passwords is not None:
        params["password"] = passwords.password()
    return params


def connect(settings: DatabaseSettings, passwords: PasswordSource | None = None, **options: Any) -> Connection:
    """One connection outside any pool (migrations, self-check, CLI)."""
    kwargs = connection_kwargs(settings, passwords)
    with translated():
        return psycopg.connect(**kwargs, **options)


# DISCARD ALL minus DEALLOCATE ALL: psycopg's prepared statements stay valid (it does not notice a
# repeated DISCARD ALL and would then call statements the server has dropped).
_RESET: Final = (
    b"CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; "
    b"SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES"
)


def reset_connection(conn: Connection) -> None:
    """Run when a connection goes back to the pool: drop every session-level setting (an owner bound
    with is_local=false by mistake included), cursors, temp tables, listeners and advisory locks."""
    was_autocommit = conn.autocommit
    conn.autocommit = True  # DISCARD cannot run in a transaction block; the pool hands us an idle one
    try:
        conn.execute(_RESET, prepare=False)
    finally:
        conn.autocommit = was_autocommit


def _autocommit(configure: Callable[[Connection], None] | None) -> Callable[[Connection], None]:
    def setup(conn: Connection) -> None:
        # Owner transactions send their own BEGIN (with the owner binding), which needs autocommit mode;
        # code wanting a transaction uses `with conn.transaction():`, which works in either mode.
        conn.autocommit = True
        if configure is not None:
            configure(conn)

    return setup


def open_pool(
    settings: DatabaseSettings,
    passwords: PasswordSource | None,
    *,
    name: str = "platform",
    configure: Callable[[Connection], None] | None = None,
    open_wait: bool = True,
    open_timeout: float = 30.0,
) -> ConnectionPool:
    """A pool whose every new connection gets fresh kwargs (and so a fresh IAM token)."""
    require_verified_tls(settings.libpq_params())  # fail before the pool starts its workers
    pool = ConnectionPool(
        kwargs=lambda: connection_kwargs(settings, passwords),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        name=name,
        configure=_autocommit(configure),
        reset=reset_connection,
        open=False,
    )
    try:
        pool.open(wait=open_wait, timeout=open_timeout)
    except PoolTimeout:
        pool.close()
        connect(settings, passwords).close()  # raises the typed cause (TLS, login, unreachable), if any
        raise DatabaseUnavailableError(f"the pool {name} could not open its connections in time") from None
    return pool


async def _async_autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    # No BEGIN from psycopg: AsyncDatabase's pipeline is one implicit transaction, ended by its Sync.
    await conn.set_autocommit(True)


def async_pool(settings: DatabaseSettings, passwords: PasswordSource | None, *, name: str) -> AsyncConnectionPool:
    """The owner API's pool of async connections, not yet open (`await pool.open()` on the event loop that
    will use it: runtime/service/app.py's lifespan). The same TLS floor and fresh kwargs per connection as
    `open_pool`. No reset on return: only `AsyncDatabase` owner transactions run on it (the owner bound
    with is_local, the record and audit statements, the Sync that commits them or a ROLLBACK), which leave
    no session state, and a reset would cost every request a round trip
    (tests/runtime/db/test_async_session.py checks it)."""
    require_verified_tls(settings.libpq_params())
    return AsyncConnectionPool(
        kwargs=lambda: connection_kwargs(settings, passwords),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        name=name,
        configure=_async_autocommit,
        open=False,
    )
