"""Settings from the environment only; every problem in ONE start-up message that names the variable."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from runtime import settings
from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError
from runtime.service.config import AuthMode, ServiceConfig

SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-dev/0123456789abcdef"
JWKS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "sXch", "e": "AQAB"}]}


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("not read by the config")
    return path


def _deployed(ca_file: Path, **extra: str) -> dict[str, str]:
    """What the service stack sets on the data service's task (stacks/service.py), plus the ALB signer."""
    return {
        settings.ENVIRONMENT: "prod",
        settings.SERVICE_MODE: "owner",
        settings.KMS_APPLICATION_KEY_ID: "arn:aws:kms:eu-west-1:111111111111:key/abc",
        settings.DATABASE_HOST: "db.example.internal",
        settings.DATABASE_PORT: "5432",
        settings.DATABASE_NAME: "platform",
        settings.DATABASE_USER: "platform_app",
        settings.DATABASE_IAM_AUTH: "true",
        settings.DATABASE_CA_BUNDLE: str(ca_file),
        settings.SERVICE_PORT: "8080",
        settings.SERVICE_TLS: "false",
        settings.AUDIT_CHAIN_KEY: "k" * 64,
        settings.ALB_SIGNER_ARN: SIGNER,
        **extra,
    }


def test_config_deployed_owner_task_reads_everything(ca_file: Path) -> None:
    config = ServiceConfig.from_environment(_deployed(ca_file))
    assert config.mode is ServiceMode.OWNER and config.environment == "prod"
    assert config.auth.mode is AuthMode.ALB_OIDC and config.auth.alb_region == "eu-west-1"
    assert config.kms_key_id and config.local_keyring is None
    assert (config.host, config.port, config.tls) == ("0.0.0.0", 8080, None)  # noqa: S104
    assert config.database.iam_auth and config.database.user == "platform_app"
    assert "k" * 64 not in repr(config)


def test_config_support_task_needs_no_keyring(ca_file: Path) -> None:
    env = _deployed(ca_file, **{settings.SERVICE_MODE: "support", settings.DATABASE_USER: "platform_support"})
    del env[settings.KMS_APPLICATION_KEY_ID]
    config = ServiceConfig.from_environment(env)
    assert config.mode is ServiceMode.SUPPORT and config.service_name == "support"


def test_config_every_problem_is_named_in_one_message(tmp_path: Path) -> None:
    env = {
        settings.SERVICE_MODE: "owners",
        settings.SERVICE_PORT: "http",
        settings.SERVICE_TLS: "true",
        settings.AUTH_MODE: "basic",
        settings.AUDIT_CHAIN_KEY: "short",
    }
    with pytest.raises(ConfigurationError) as raised:
        ServiceConfig.from_environment(env)
    message = str(raised.value)
    assert message.startswith("the service cannot start; fix these settings")
    for name in (settings.SERVICE_MODE, settings.ENVIRONMENT, settings.DATABASE_HOST, settings.SERVICE_PORT,
                 settings.SERVICE_TLS_CERT_FILE, settings.AUTH_MODE, settings.AUDIT_CHAIN_KEY):
        assert name in message, name
    assert "short" not in message  # never the refused secret


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({settings.SERVICE_MODE: "job"}, "job runs lifecycle commands"),
        ({settings.ALB_SIGNER_ARN: "my-load-balancer"}, "not an application load balancer ARN"),
        ({settings.ALB_SIGNER_ARN: ""}, settings.ALB_SIGNER_ARN),
        ({settings.SERVICE_PORT: "70000"}, "out of range"),
        ({settings.SERVICE_MAX_BODY_BYTES: "12"}, settings.SERVICE_MAX_BODY_BYTES),
        ({settings.DATABASE_SSLMODE: "require"}, "verify-full"),
        ({settings.SERVICE_TLS: "maybe"}, "true or false"),
        ({settings.AUTH_ORGANISATION_CLAIM: "org id!"}, "claim name"),
        ({settings.LOCAL_MASTER_KEY: base64.b64encode(os.urandom(32)).decode()}, "not both"),
    ],
)
def test_config_invalid_setting_stops_start_up(ca_file: Path, extra: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        ServiceConfig.from_environment(_deployed(ca_file, **extra))


def test_config_local_keyring_only_for_local_runs(ca_file: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    env = _deployed(ca_file, **{settings.LOCAL_MASTER_KEY: key})
    del env[settings.KMS_APPLICATION_KEY_ID]
    with pytest.raises(ConfigurationError, match="local runs and tests only"):
        ServiceConfig.from_environment(env)
    config = ServiceConfig.from_environment({**env, settings.ENVIRONMENT: "local"})
    assert config.local_keyring is not None and config.kms_key_id is None
    del env[settings.LOCAL_MASTER_KEY]
    with pytest.raises(ConfigurationError, match="needs a keyring"):
        ServiceConfig.from_environment(env)


def test_config_tls_from_files_or_self_signed(ca_file: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    files = {settings.SERVICE_TLS: "true", settings.SERVICE_TLS_CERT_FILE: str(cert),
             settings.SERVICE_TLS_KEY_FILE: str(key)}
    tls = ServiceConfig.from_environment(_deployed(ca_file, **files)).tls
    assert tls is not None and (tls.cert_file, tls.key_file, tls.self_signed) == (cert, key, False)
    made = ServiceConfig.from_environment(
        _deployed(ca_file, **{settings.SERVICE_TLS: "true", settings.SERVICE_TLS_SELF_SIGNED: "true"})
    ).tls
    assert made is not None and made.self_signed
    with pytest.raises(ConfigurationError, match="does not exist"):
        ServiceConfig.from_environment(_deployed(ca_file, **{**files, settings.SERVICE_TLS_KEY_FILE: "/nope"}))
    with pytest.raises(ConfigurationError, match="not both"):
        ServiceConfig.from_environment(_deployed(ca_file, **{**files, settings.SERVICE_TLS_SELF_SIGNED: "true"}))


def test_config_bearer_jwt_from_inline_or_file_jwks(ca_file: Path, tmp_path: Path) -> None:
    bearer = {settings.AUTH_MODE: "bearer-jwt", settings.JWT_ISSUER: "https://idp.example/",
              settings.JWT_AUDIENCE: "platform-api", settings.JWT_JWKS: json.dumps(JWKS)}
    config = ServiceConfig.from_environment(_deployed(ca_file, **bearer))
    assert config.auth.mode is AuthMode.BEARER_JWT and config.auth.identity_source == "jwt:https://idp.example/"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(JWKS))
    from_file = {**bearer, settings.JWT_JWKS: "", settings.JWT_JWKS_FILE: str(path)}
    assert ServiceConfig.from_environment(_deployed(ca_file, **from_file)).auth.jwks == JWKS
    for broken, expected in (
        ({settings.JWT_JWKS: "{"}, "not valid JSON"),
        ({settings.JWT_JWKS: '{"keys": [{"kty": "RSA"}]}'}, "no key with a kid"),
        ({settings.JWT_JWKS: ""}, settings.JWT_JWKS_FILE),
        ({settings.JWT_AUDIENCE: ""}, settings.JWT_AUDIENCE),
        ({settings.JWT_JWKS_FILE: str(path)}, "not both"),
    ):
        with pytest.raises(ConfigurationError, match=expected):
            ServiceConfig.from_environment(_deployed(ca_file, **{**bearer, **broken}))
