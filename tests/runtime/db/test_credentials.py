"""Where passwords come from: a fresh IAM token per new connection, or Secrets Manager (moto)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.db import IamAuthToken, SecretsManagerPassword, StaticPassword, connect
from runtime.db.connect import connection_kwargs
from runtime.db.schema import APP_ROLE
from runtime.errors import AuthenticationFailedError, ConfigurationError, DatabaseError
from tests.support.platform_db import PlatformDatabase

pytestmark = pytest.mark.postgres

REGION = "eu-west-1"


class CountingRdsClient:
    """The real botocore client, with its calls counted (not a stand-in for Postgres)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[dict[str, Any]] = []

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return str(self._client.generate_db_auth_token(**kwargs))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


@pytest.fixture
def rds(aws: None) -> CountingRdsClient:
    return CountingRdsClient(boto3.client("rds", region_name=REGION))


def test_iam_token_fresh_for_every_new_connection(platform_db: PlatformDatabase, rds: CountingRdsClient) -> None:
    settings = platform_db.settings(APP_ROLE)
    source = IamAuthToken(client=rds, host=settings.host, port=settings.port, user=settings.user)
    first = connection_kwargs(settings, source)
    second = connection_kwargs(settings, source)
    assert len(rds.calls) == 2
    assert rds.calls[0] == {"DBHostname": "localhost", "Port": settings.port, "DBUsername": APP_ROLE}
    for kwargs in (first, second):
        token = kwargs["password"]
        assert token.startswith(f"localhost:{settings.port}/?Action=connect&DBUser={APP_ROLE}")
        assert "X-Amz-Signature=" in token


def test_iam_token_refused_by_a_server_without_iam_auth(platform_db: PlatformDatabase, rds: CountingRdsClient) -> None:
    """The test cluster is no RDS: the token is a wrong password there, reported as such."""
    settings = platform_db.settings(APP_ROLE)
    source = IamAuthToken(client=rds, host=settings.host, port=settings.port, user=settings.user)
    with pytest.raises(AuthenticationFailedError):
        connect(settings, source)
    assert len(rds.calls) == 1


def test_secrets_manager_password_connects(platform_db: PlatformDatabase, aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(
        Name="platform/db/app",
        SecretString=json.dumps({"username": APP_ROLE, "password": platform_db.passwords[APP_ROLE]}),
    )["ARN"]
    source = SecretsManagerPassword(client=client, secret_id=arn)
    with connect(platform_db.settings(APP_ROLE), source) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)


def test_secrets_manager_bare_string_secret_is_the_password(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="bare", SecretString="s3cret-value")
    assert SecretsManagerPassword(client=client, secret_id="bare").password() == "s3cret-value"


def test_secrets_manager_missing_secret_says_what_to_grant(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    with pytest.raises(DatabaseError, match="secretsmanager:GetSecretValue"):
        SecretsManagerPassword(client=client, secret_id="nope").password()


def test_secrets_manager_json_without_password_refused(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="nopw", SecretString=json.dumps({"username": "x"}))
    with pytest.raises(ConfigurationError, match="password"):
        SecretsManagerPassword(client=client, secret_id="nopw").password()


def test_static_password_repr_hides_value() -> None:
    assert "hunter2" not in repr(StaticPassword("hunter2"))
