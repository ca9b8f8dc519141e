"""Settings from the environment only; every problem in ONE start-up message that names the variable."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from runtime import settings
from runtime.db.self_check import ServiceMode
from runtime.errors import ConfigurationError
from runtime.service.config import AuthMode, ServiceConfig
from tests.support.tokens import TokenIssuer

SIGNER = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/app/platform-dev/0123456789abcdef"
JWKS = TokenIssuer.generate(kid="k1").jwks()


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
        settings.APP_NAME: "platform",  # per-organisation keys (prod refuses the shared key alone)
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
    assert config.keyring_choice is not None and config.keyring_choice.mode == "per-organisation"
    assert (config.host, config.port, config.tls) == ("0.0.0.0", 8080, None)  # noqa: S104
    assert config.database.iam_auth and config.database.user == "platform_app"
    assert "k" * 64 not in repr(config)


def _support(ca_file: Path, **extra: str) -> dict[str, str]:
    """The support service's task: the support role, the internal load balancer's signer, the staff claim."""
    env = _deployed(ca_file, **{settings.SERVICE_MODE: "support", settings.DATABASE_USER: "platform_support",
                                settings.AUTH_STAFF_CLAIM: "staff_roles", settings.AUTH_STAFF_ROLE: "platform-support",
                                **extra})
    del env[settings.KMS_APPLICATION_KEY_ID]
    return env


def test_config_support_task_needs_no_keyring(ca_file: Path) -> None:
    config = ServiceConfig.from_environment(_support(ca_file))
    assert config.mode is ServiceMode.SUPPORT and config.service_name == "support"
    assert (config.auth.staff_claim, config.auth.staff_role) == ("staff_roles", "platform-support")
    assert config.auth.mode is AuthMode.ALB_OIDC and config.auth.alb_signer_arn == SIGNER


def test_config_support_task_without_identity_names_every_missing_setting(ca_file: Path) -> None:
    env = _support(ca_file)
    for name in (settings.ALB_SIGNER_ARN, settings.AUTH_STAFF_CLAIM, settings.AUTH_STAFF_ROLE):
        del env[name]
    with pytest.raises(ConfigurationError) as raised:
        ServiceConfig.from_environment(env)
    message = str(raised.value)
    for name in (settings.ALB_SIGNER_ARN, settings.AUTH_STAFF_CLAIM, settings.AUTH_STAFF_ROLE):
        assert f"- {name} is not set" in message, name
    assert "internal load balancer that signs in support staff" in message


def test_config_support_task_in_bearer_mode_needs_the_staff_issuer_audience_and_keys(ca_file: Path) -> None:
    env = _support(ca_file, **{settings.AUTH_MODE: "bearer-jwt"})
    del env[settings.ALB_SIGNER_ARN]
    with pytest.raises(ConfigurationError) as raised:
        ServiceConfig.from_environment(env)
    message = str(raised.value)
    for name in (settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_JWKS_URL):
        assert name in message, name
    assert message.count("the staff IdP") == 2 and settings.ALB_SIGNER_ARN not in message
    staff = {settings.JWT_ISSUER: "https://staff-idp.example/", settings.JWT_AUDIENCE: "platform-support",
             settings.JWT_JWKS_URL: "https://staff-idp.example/.well-known/jwks.json"}
    auth = ServiceConfig.from_environment({**env, **staff}).auth
    assert (auth.jwt_issuer, auth.jwt_audience, auth.jwks_url, auth.jwks) == (
        "https://staff-idp.example/", "platform-support", "https://staff-idp.example/.well-known/jwks.json", None)
    assert auth.may_block and auth.alb_signer_arn is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({settings.AUTH_STAFF_CLAIM: "staff roles"}, f"{settings.AUTH_STAFF_CLAIM} must be a claim name"),
        ({settings.AUTH_STAFF_CLAIM: "1roles"}, f"{settings.AUTH_STAFF_CLAIM} must be a claim name"),
        ({settings.AUTH_STAFF_ROLE: "support, admin"}, f"{settings.AUTH_STAFF_ROLE} must be one role name"),
        ({settings.AUTH_STAFF_ROLE: "x" * 129}, f"{settings.AUTH_STAFF_ROLE} must be one role name"),
        ({settings.AUTH_STAFF_ROLE: " "}, f"{settings.AUTH_STAFF_ROLE} is not set"),
        ({settings.AUTH_MODE: "alb-oidc+bearer-jwt"}, "for the data service"),
    ],
)
def test_config_support_task_with_a_malformed_staff_setting_stops_start_up(
    ca_file: Path, extra: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(expected)):
        ServiceConfig.from_environment(_support(ca_file, **extra))


def test_config_owner_task_ignores_staff_settings(ca_file: Path) -> None:
    env = _deployed(ca_file, **{settings.AUTH_STAFF_CLAIM: "not a claim!", settings.AUTH_STAFF_ROLE: "a, b"})
    auth = ServiceConfig.from_environment(env).auth
    assert auth.staff_claim is None and auth.staff_role is None


def test_config_mixed_mode_needs_the_alb_signer_and_the_bearer_settings(ca_file: Path) -> None:
    env = _deployed(ca_file, **{settings.AUTH_MODE: "alb-oidc+bearer-jwt"})
    del env[settings.ALB_SIGNER_ARN]
    with pytest.raises(ConfigurationError) as raised:
        ServiceConfig.from_environment(env)
    for name in (settings.ALB_SIGNER_ARN, settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_JWKS_URL):
        assert name in str(raised.value), name
    bearer = {settings.ALB_SIGNER_ARN: SIGNER, settings.JWT_ISSUER: "https://idp.example/",
              settings.JWT_AUDIENCE: "platform-api", settings.JWT_JWKS: json.dumps(JWKS)}
    auth = ServiceConfig.from_environment({**env, **bearer}).auth
    assert auth.mode is AuthMode.ALB_OIDC_OR_BEARER_JWT and auth.mode.uses_alb and auth.mode.uses_bearer
    assert auth.alb_signer_arn == SIGNER and auth.jwks == JWKS and auth.may_block
    assert auth.identity_source == "jwt:https://idp.example/"


def test_config_auth_mode_values_are_the_settings_constants() -> None:
    assert {m.value for m in AuthMode} == {settings.AUTH_MODE_ALB_OIDC, settings.AUTH_MODE_BEARER_JWT,
                                           settings.AUTH_MODE_ALB_OIDC_OR_BEARER_JWT}


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
    del env[settings.KMS_APPLICATION_KEY_ID], env[settings.APP_NAME]
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
        ({settings.JWT_JWKS: '{"keys": [{"kty": "RSA"}]}'}, f"{settings.JWT_JWKS}: JWKS entry 0 has no kid"),
        ({settings.JWT_JWKS: '{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}'}, "private or secret"),
        ({settings.JWT_JWKS: json.dumps({"keys": [{**JWKS["keys"][0], "alg": "HS256"}]})}, "does not fit"),
        ({settings.JWT_JWKS: ""}, settings.JWT_JWKS_FILE),
        ({settings.JWT_AUDIENCE: ""}, settings.JWT_AUDIENCE),
        ({settings.JWT_JWKS_FILE: str(path)}, "exactly one of"),
    ):
        with pytest.raises(ConfigurationError, match=expected):
            ServiceConfig.from_environment(_deployed(ca_file, **{**bearer, **broken}))
    assert not ServiceConfig.from_environment(_deployed(ca_file, **bearer)).auth.may_block  # keys in memory


def test_config_bearer_jwt_from_a_jwks_url(ca_file: Path) -> None:
    url = "https://idp.example/.well-known/jwks.json"
    bearer = {settings.AUTH_MODE: "bearer-jwt", settings.JWT_ISSUER: "https://idp.example/",
              settings.JWT_AUDIENCE: "platform-api", settings.JWT_JWKS_URL: url}
    auth = ServiceConfig.from_environment(_deployed(ca_file, **bearer)).auth
    assert (auth.jwks_url, auth.jwks) == (url, None)


@pytest.mark.parametrize(
    "url",
    ["http://idp.example/jwks.json", "idp.example/jwks.json", "https://", "https://user:pw@idp.example/jwks",
     "https://idp.example/jwks#x", "https://idp.example/jw ks", "file:///etc/jwks.json", "https://idp.example:0/"],
)
def test_config_jwks_url_that_is_not_plain_https_stops_start_up(ca_file: Path, url: str) -> None:
    bearer = {settings.AUTH_MODE: "bearer-jwt", settings.JWT_ISSUER: "https://idp.example/",
              settings.JWT_AUDIENCE: "platform-api", settings.JWT_JWKS_URL: url}
    with pytest.raises(ConfigurationError, match=f"{settings.JWT_JWKS_URL} must be the https:// URL") as raised:
        ServiceConfig.from_environment(_deployed(ca_file, **bearer))
    assert "pw@" not in str(raised.value)


def test_config_jwks_url_with_a_static_jwks_names_both(ca_file: Path) -> None:
    bearer = {settings.AUTH_MODE: "bearer-jwt", settings.JWT_ISSUER: "https://idp.example/",
              settings.JWT_AUDIENCE: "platform-api", settings.JWT_JWKS_URL: "https://idp.example/jwks",
              settings.JWT_JWKS: json.dumps(JWKS)}
    with pytest.raises(ConfigurationError, match=f"not {settings.JWT_JWKS_URL} and {settings.JWT_JWKS}$"):
        ServiceConfig.from_environment(_deployed(ca_file, **bearer))
