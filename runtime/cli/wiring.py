"""Shared wiring for the database commands: settings from the environment, AWS clients on demand."""

import os
from collections.abc import Mapping
from typing import Any

from runtime.db.config import DatabaseSettings
from runtime.db.connect import Connection, connect
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword


def aws_client(service: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # commands build clients when they run, never at import

    return boto3.client(service)


def password_source(db: DatabaseSettings) -> PasswordSource | None:
    """IAM token per connection, else the Secrets Manager secret, else libpq's own (PGPASSFILE)."""
    if db.iam_auth:
        return IamAuthToken(client=aws_client("rds"), host=db.host, port=db.port, user=db.user)
    if db.password_secret_id:
        return SecretsManagerPassword(client=aws_client("secretsmanager"), secret_id=db.password_secret_id)
    return None


def connect_from_environment(environ: Mapping[str, str] | None = None) -> Connection:
    db = DatabaseSettings.from_environment(os.environ if environ is None else environ)
    return connect(db, password_source(db))
