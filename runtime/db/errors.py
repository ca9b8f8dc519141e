"""psycopg errors -> the runtime's typed errors, by SQLSTATE. The driver stops here: no layer above runtime.db
catches a psycopg or psycopg_pool error (the HTTP layer imports neither; tests/runtime/service checks it).

Server messages can quote the refused value (`invalid input syntax for type uuid: "..."`), and
values may be SENSITIVE, so data and constraint errors keep only the SQLSTATE and schema names
(constraint, table, column) and are raised `from None`. Connection errors carry libpq's text,
which names hosts and certificates, never data.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolTimeout

from runtime.errors import (
    AuthenticationFailedError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    IntegrityViolationError,
    InvalidValueError,
    PermissionDeniedError,
    PoolExhaustedError,
    RetryableError,
    RowLevelSecurityError,
    SchemaError,
    TlsVerificationError,
)

_TLS_HINTS = ("certificate", "root cert", "sslrootcert", "ssl error", "tls", "host name")


def translate(exc: psycopg.Error) -> DatabaseError:
    """The typed error for `exc`; never copies a value from the server's message."""
    if isinstance(exc, PoolTimeout):
        return PoolExhaustedError(
            "no database connection was free in time: every pooled connection is busy, or new ones cannot be "
            "opened; retry shortly"
        )
    state = exc.sqlstate or ""
    diag = exc.diag
    where = ".".join(n for n in (diag.schema_name, diag.table_name, diag.column_name) if n)
    on = f" on {where}" if where else ""
    constraint = f" (constraint {diag.constraint_name})" if diag.constraint_name else ""
    primary = (diag.message_primary or "").lower()

    if state == "42501":
        if "row-level security" in primary:
            return RowLevelSecurityError(
                f"row-level security refused the write{on}: the row belongs to another owner than the one "
                "bound to this transaction; write rows of the bound owner only (P3)",
                sqlstate=state,
            )
        return PermissionDeniedError(
            f"the database role may not do this{on} (42501); it is not granted in the migrations on purpose",
            sqlstate=state,
        )
    if state in ("28000", "28P01"):
        return AuthenticationFailedError(
            f"the database refused the login ({state}): check the user name, the password or IAM token "
            "(the role needs rds_iam for IAM authentication), and that the connection uses TLS",
            sqlstate=state,
        )
    if state == "23505":
        return ConflictError(f"a row with this key already exists{on}{constraint}", sqlstate=state)
    if state == "23514" and "envelope" in (diag.constraint_name or ""):
        return IntegrityViolationError(
            f"a SENSITIVE column{on} was given something that is not envelope ciphertext; "
            "encrypt it with runtime.envelope first (P6)",
            sqlstate=state,
        )
    if state.startswith("23"):
        return IntegrityViolationError(f"a constraint refused the row{on}{constraint} ({state})", sqlstate=state)
    if state.startswith("22"):
        return InvalidValueError(f"the server could not use a value{on} ({state}); check its type", sqlstate=state)
    if state in ("40001", "40P01"):
        return RetryableError(f"the transaction conflicted with another ({state}); retry it", sqlstate=state)
    if state in ("3F000", "42P01", "42883", "42703"):
        return SchemaError(
            f"the schema is missing or outdated ({state}); run `python -m runtime db migrate`", sqlstate=state
        )
    if isinstance(exc, psycopg.OperationalError) or state.startswith("08") or state.startswith("57P"):
        text = str(exc).strip()
        if any(hint in text.lower() for hint in _TLS_HINTS):
            return TlsVerificationError(
                f"TLS to the database failed: {text}. Check that PLATFORM_DATABASE_CA_BUNDLE holds the CA that "
                "signed the server's certificate (the RDS global bundle on AWS) and that the host name matches it",
                sqlstate=state or None,
            )
        if "no pg_hba.conf entry" in text or "password authentication failed" in text:
            return AuthenticationFailedError(
                f"the database refused the login: {text}", sqlstate=state or None
            )
        return DatabaseUnavailableError(f"the database is unreachable or the connection broke: {text}",
                                        sqlstate=state or None)
    return DatabaseError(f"the database reported an error ({state or type(exc).__name__}){on}", sqlstate=state or None)


@contextmanager
def translated() -> Iterator[None]:
    """Run a block, re-raising psycopg errors as typed `DatabaseError`s."""
    try:
        yield
    except psycopg.Error as exc:
        error = translate(exc)
        if isinstance(error, DatabaseUnavailableError | AuthenticationFailedError):
            raise error from exc
        raise error from None
