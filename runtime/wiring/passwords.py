"""Where every process's database connections get their password (runtime.db.credentials has the sources)."""

from runtime.db.config import DatabaseSettings
from runtime.db.credentials import IamAuthToken, PasswordSource, SecretsManagerPassword
from runtime.wiring.clients import ClientFactory, aws_client


def password_source(db: DatabaseSettings, clients: ClientFactory = aws_client) -> PasswordSource | None:
    """A fresh IAM token per connection (DATABASE_IAM_AUTH, deployed), else the Secrets Manager secret
    (DATABASE_PASSWORD_SECRET_ID), else None: libpq's own (PGPASSWORD, PGPASSFILE), for local runs and tests."""
    if db.iam_auth:
        return IamAuthToken(client=clients("rds"), host=db.host, port=db.port, user=db.user)
    if db.password_secret_id:
        return SecretsManagerPassword(client=clients("secretsmanager"), secret_id=db.password_secret_id)
    return None
