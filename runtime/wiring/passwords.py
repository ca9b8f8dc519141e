"""Where every process's database connections get their password (runtime.db.credentials has the sources), and
the one reader of the cluster's master secret: `read_admin_secret`, for the deploy-time `db setup` only (no other
command reads PLATFORM_DATABASE_ADMIN_SECRET_ID; breach drills log in as the drill role, platform_drill).
"""

import json
from typing import Any

from runtime import settings
from runtime.db.config import DatabaseSettings
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword
from runtime.errors import ConfigurationError, DatabaseError
from runtime.wiring.clients import ClientFactory, aws_client


def password_source(db: DatabaseSettings, clients: ClientFactory = aws_client) -> PasswordSource | None:
    """A fresh IAM token per connection (DATABASE_IAM_AUTH, deployed), else the Secrets Manager secret
    (DATABASE_PASSWORD_SECRET_ID), else None: libpq's own (PGPASSWORD, PGPASSFILE), for local runs and tests."""
    if db.iam_auth:
        return IamAuthToken(client=clients("rds"), host=db.host, port=db.port, user=db.user)
    if db.password_secret_id:
        return SecretsManagerPassword(client=clients("secretsmanager"), secret_id=db.password_secret_id)
    return None


def read_admin_secret(client: Any, secret_id: str) -> tuple[str, str]:
    """(username, password) of the master secret: RDS writes JSON with both (an attached secret also holds
    host and port, which are not used: the task's DATABASE_HOST/PORT name the endpoint it verifies)."""
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except Exception as exc:  # botocore: access denied, not found, no credentials
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise DatabaseError(
            f"could not read the master secret {secret_id} ({code}); the setup task role needs "
            "secretsmanager:GetSecretValue on it and kms:Decrypt on its key through Secrets Manager"
        ) from None
    text_value = response.get("SecretString") if isinstance(response, dict) else None
    try:
        document = json.loads(text_value) if isinstance(text_value, str) else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"the master secret {secret_id} is not JSON with `username` and `password`; point "
            f"{settings.DATABASE_ADMIN_SECRET_ID} at the cluster's master user secret"
        )
    username, password = document.get("username"), document.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
        raise ConfigurationError(f"the master secret {secret_id} lacks a string `username` or `password`")
    return username, password
