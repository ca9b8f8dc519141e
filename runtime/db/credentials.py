"""Where the database password of each new connection comes from.

- IAM authentication (the deployed default): a fresh `generate_db_auth_token` per connection, signed
  locally by botocore with the task role; tokens live 15 minutes, connections longer, so each new
  connection gets its own.
- Secrets Manager: the secret's `password` (JSON, as RDS writes it) or its whole string, read per new
  connection so rotation needs no restart.
Clients are injected (runtime.wiring.clients in a task, moto in tests); nothing here builds one. Which source a
process uses: runtime.wiring.passwords.
"""

import json
from typing import Any, Protocol

from runtime.aws_protocols import RdsClient, SecretsManagerClient
from runtime.errors import ConfigurationError, DatabaseError


class PasswordSource(Protocol):
    def password(self) -> str: ...


class IamAuthToken:
    def __init__(self, *, client: RdsClient, host: str, port: int, user: str, region: str | None = None) -> None:
        self._client = client
        self._host, self._port, self._user, self._region = host, port, user, region

    def __repr__(self) -> str:
        return f"IamAuthToken(host={self._host!r}, user={self._user!r})"

    def password(self) -> str:
        kwargs: dict[str, Any] = {"DBHostname": self._host, "Port": self._port, "DBUsername": self._user}
        if self._region:
            kwargs["Region"] = self._region
        try:
            return self._client.generate_db_auth_token(**kwargs)
        except Exception as exc:  # botocore: no credentials, no region
            raise DatabaseError(
                f"could not sign an IAM database token for {self._user}@{self._host}: {type(exc).__name__}; "
                "check the task role's credentials and AWS_REGION"
            ) from None


class SecretsManagerPassword:
    def __init__(self, *, client: SecretsManagerClient, secret_id: str) -> None:
        if not secret_id:
            raise ConfigurationError("a Secrets Manager password source needs the secret's ARN or name")
        self._client = client
        self._secret_id = secret_id

    def __repr__(self) -> str:
        return f"SecretsManagerPassword(secret_id={self._secret_id!r})"

    def password(self) -> str:
        try:
            response = self._client.get_secret_value(SecretId=self._secret_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise DatabaseError(
                f"could not read the database secret {self._secret_id} ({code}); grant the task role "
                "secretsmanager:GetSecretValue on it and kms:Decrypt on its key"
            ) from None
        text = response.get("SecretString") if isinstance(response, dict) else None
        if not isinstance(text, str) or not text:
            raise ConfigurationError(f"the secret {self._secret_id} has no SecretString")
        try:
            document = json.loads(text)
        except ValueError:
            return text  # a bare password
        if isinstance(document, dict) and isinstance(document.get("password"), str):
            return str(document["password"])
        raise ConfigurationError(f"the secret {self._secret_id} is JSON without a string `password` field")


class StaticPassword:
    """A fixed password, for local development and tests. Never shown in repr."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "StaticPassword(<redacted>)"

    def password(self) -> str:
        return self._value
