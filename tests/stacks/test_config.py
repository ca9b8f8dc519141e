"""Bad configuration gives ONE clear error naming the file, the field and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from stacks.config import ConfigError, EnvironmentConfig, load_config, spec_of
from tests.stacks.conftest import OPERATOR_CONFIG, ROOT, SELFHOSTED_CONFIG

VALID = """
app_name = "adp"
[defaults]
region = "eu-west-1"
domain_name = "api.example.com"
jwt_issuer = "https://idp.example.com/"
jwt_audience = "adp-api"
jwt_jwks_file = "jwks.json"
support_jwt_issuer = "https://staff.example.com/"
support_jwt_audience = "adp-support"
support_jwt_jwks_url = "https://staff.example.com/.well-known/jwks.json"
support_staff_claim = "staff_roles"
support_staff_role = "platform-support"
breach_contact = "privacy@example.com"
[environments.dev]
kind = "dev"
account = "111111111111"
vpc_cidr = "10.10.0.0/16"
certificate_arn = "arn:aws:acm:eu-west-1:111111111111:certificate/api"
vpn_server_certificate_arn = "arn:aws:acm:eu-west-1:111111111111:certificate/vpn"
vpn_client_root_certificate_arn = "arn:aws:acm:eu-west-1:111111111111:certificate/clients"
[environments.prod]
kind = "prod"
account = "333333333333"
vpc_cidr = "10.30.0.0/16"
vault_lock_min_retention_days = 7
certificate_arn = "arn:aws:acm:eu-west-1:333333333333:certificate/api"
vpn_server_certificate_arn = "arn:aws:acm:eu-west-1:333333333333:certificate/vpn"
vpn_client_root_certificate_arn = "arn:aws:acm:eu-west-1:333333333333:certificate/clients"
"""


# A dev table line-set that clears the [defaults]' staff bearer identity, and two OIDC sign-ins.
NO_STAFF_BEARER = 'support_jwt_issuer = ""\nsupport_jwt_audience = ""\nsupport_jwt_jwks_url = ""'
STAFF_OIDC = "\n".join(
    [
        'support_oidc_issuer = "https://staff.example.com"',
        'support_oidc_authorization_endpoint = "https://staff.example.com/authorize"',
        'support_oidc_token_endpoint = "https://staff.example.com/token"',
        'support_oidc_user_info_endpoint = "https://staff.example.com/userinfo"',
        'support_oidc_client_id = "adp-staff-console"',
        'support_oidc_client_secret_name = "adp/dev/support-oidc-client-secret"',
    ]
)
WEB_AUDIENCE = 'support_jwt_audience = "adp-web"'
STAFF_OIDC_AS_USERS = STAFF_OIDC.replace("adp-staff-console", "adp-api").replace("staff.example.com", "idp.example.com")
USER_OIDC = (
    STAFF_OIDC.replace("support_oidc_", "oidc_")
    .replace("staff.example.com", "login.example.com")
    .replace("adp-staff-console", "adp-web")
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "envs.toml"
    path.write_text(text)
    jwks = ROOT / "config" / "jwks" / "operator-idp.example.json"
    (tmp_path / "jwks.json").write_text(jwks.read_text())
    return path


def test_config_operator_file_loads_three_segregated_environments() -> None:
    config = load_config(OPERATOR_CONFIG)
    assert config.names == ("dev", "qa", "prod")
    prod = config.environment("prod")
    assert prod.is_production and prod.deletion_protection and prod.backup_retention_days >= 7
    assert len(prod.availability_zones) == prod.az_count >= 2


def test_config_context_override_is_typed_and_applied(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID), {"prod.db_reader_count": "3", "dev.hipaa": "true"})
    assert config.environment("prod").db_reader_count == 3
    assert config.environment("dev").hipaa is True


def test_config_unknown_environment_lists_valid_ones(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID))
    with pytest.raises(ConfigError, match=r"unknown environment 'stage'\. Valid environments: dev, prod"):
        config.only("stage")


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        (('vpc_cidr = "10.30.0.0/16"', 'vpc_cidr = "10.30.0.300/16"'), "environments.prod.vpc_cidr", "not a valid"),
        (('vpc_cidr = "10.30.0.0/16"', 'vpc_cidr = "10.30.0.1/16"'), "environments.prod.vpc_cidr", "not a valid"),
        (('vpc_cidr = "10.30.0.0/16"', 'vpc_cidr = "10.10.128.0/17"'), "overlaps", "non-overlapping"),
        (('kind = "prod"', 'kind = "prod"\naz_count = 1'), "environments.prod.az_count", "at least 2"),
        (
            ('kind = "prod"', 'kind = "prod"\ndeletion_protection = false'),
            "environments.prod.deletion_protection",
            "Set it to true",
        ),
        (
            ('kind = "prod"', 'kind = "prod"\nbackup_retention_days = 5'),
            "environments.prod.backup_retention_days",
            "Set 7 or more",
        ),
        (("vault_lock_min_retention_days = 7", ""), "environments.prod.vault_lock_min_retention_days", "Set e.g. 7"),
        (('kind = "dev"', 'kind = "dev"\nbackup_retension_days = 5'), "environments.dev", "unknown field"),
        (('kind = "dev"', 'kind = "dev"\naz_count = "3"'), "environments.dev.az_count", "wrong type"),
        (('account = "111111111111"', 'account = "1111"'), "environments.dev.account", "12-digit"),
        (
            ('kind = "dev"', 'kind = "dev"\nlog_retention_days = 100'),
            "environments.dev.log_retention_days",
            "CloudWatch Logs accepts",
        ),
        (
            (
                'certificate_arn = "arn:aws:acm:eu-west-1:111111111111:certificate/api"',
                'certificate_arn = "arn:aws:acm:eu-west-1:333333333333:certificate/api"',
            ),
            "environments.dev.certificate_arn",
            "account 111111111111",
        ),
        (
            ('vpn_client_root_certificate_arn = "arn:aws:acm:eu-west-1:111111111111:certificate/clients"', ""),
            "environments.dev.vpn_client_root_certificate_arn",
            "set exactly one VPN authentication",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nvpn_saml_provider_arn = "arn:aws:iam::111111111111:saml-provider/idp"'),
            "environments.dev.vpn_client_root_certificate_arn",
            "set exactly one VPN authentication",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nvpn_client_cidr = "10.10.0.0/22"'),
            "environments.dev.vpn_client_cidr",
            "must not overlap vpc_cidr",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\noidc_issuer = "https://idp.example.com"'),
            "environments.dev.oidc_authorization_endpoint",
            "all of",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nexisting_vpc_id = "vpc-0123456789abcdef0"'),
            "environments.dev.existing_public_subnet_ids",
            "must list 3 subnet ids",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nexisting_app_subnet_ids = ["subnet-0123456789abcdef0"]'),
            "environments.dev.existing_app_subnet_ids",
            "existing_vpc_id is not",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nexisting_key_arns = ["database=arn:aws:kms:eu-west-1:999999999999:key/x"]'),
            "environments.dev.existing_key_arns",
            "account 111111111111",
        ),
        (('kind = "prod"', 'kind = "prod"\nservice_min_tasks = 1'), "environments.prod.service_min_tasks", "need 2"),
        (
            ('kind = "dev"', 'kind = "dev"\njwt_jwks_file = "missing.json"'),
            "environments.dev.jwt_jwks_file",
            "does not exist",
        ),
        (('kind = "dev"', 'kind = "dev"\njwt_issuer = "http://idp"'), "environments.dev.jwt_issuer", "https://"),
        (
            ('kind = "dev"', 'kind = "dev"\njwt_jwks_file = ""\njwt_jwks_url = "http://idp.example.com/jwks"'),
            "environments.dev.jwt_jwks_url",
            "must be an https:// URL",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\njwt_jwks_url = "https://idp.example.com/jwks"'),
            "environments.dev.jwt_jwks_url",
            "set exactly one of jwt_jwks_url",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\njwt_jwks_file = ""'),
            "environments.dev.jwt_jwks_url",
            "set exactly one of jwt_jwks_url",
        ),
        (
            ('kind = "dev"', f'kind = "dev"\n{NO_STAFF_BEARER}'),
            "environments.dev.support_jwt_issuer",
            "support staff need an identity of their own, never the users' (P4)",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_jwt_jwks_url = "http://staff.example.com/jwks"'),
            "environments.dev.support_jwt_jwks_url",
            "must be an https:// URL",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_jwt_jwks_file = "staff.json"'),
            "environments.dev.support_jwt_jwks_url",
            "set exactly one of support_jwt_jwks_url",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_jwt_jwks_url = ""\nsupport_jwt_jwks_file = "missing.json"'),
            "environments.dev.support_jwt_jwks_file",
            "does not exist",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_jwt_audience = ""'),
            "environments.dev.support_jwt_audience",
            "is missing",
        ),
        (
            (
                'kind = "dev"',
                'kind = "dev"\nsupport_jwt_issuer = "https://idp.example.com"\nsupport_jwt_audience = "adp-api"',
            ),
            "environments.dev.support_jwt_audience",
            "equal the users' jwt_issuer and jwt_audience: any customer's token (or sign-in) would open the support",
        ),
        (
            (
                'kind = "dev"',
                f'kind = "dev"\n{USER_OIDC}\nsupport_jwt_issuer = "https://login.example.com/"\n{WEB_AUDIENCE}',
            ),
            "environments.dev.support_jwt_audience",
            "equal the users' oidc_issuer and oidc_client_id",
        ),
        (
            ('kind = "dev"', f'kind = "dev"\n{NO_STAFF_BEARER}\nsupport_oidc_issuer = "https://staff.example.com"'),
            "environments.dev.support_oidc_authorization_endpoint",
            "support load balancer OIDC needs all of",
        ),
        (
            ('kind = "dev"', f'kind = "dev"\n{STAFF_OIDC}'),
            "environments.dev.support_jwt_issuer",
            "choose one staff identity",
        ),
        (
            (
                'kind = "dev"',
                f'kind = "dev"\n{NO_STAFF_BEARER}\n{STAFF_OIDC.replace("https://staff.example.com/t", "http://staff/t")}',
            ),
            "environments.dev.support_oidc_token_endpoint",
            "https:// URL",
        ),
        (
            (
                'kind = "dev"',
                f'kind = "dev"\n{NO_STAFF_BEARER}\n{STAFF_OIDC_AS_USERS}',
            ),
            "environments.dev.support_oidc_client_id",
            "equal the users' jwt_issuer and jwt_audience",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_staff_claim = ""'),
            "environments.dev.support_staff_claim",
            "required: only callers holding support_staff_role",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nsupport_staff_role = "two roles"'),
            "environments.dev.support_staff_role",
            "the one role (or group) that makes a caller support staff",
        ),
        (
            ('kind = "dev"', 'kind = "dev"\nbreach_contact = "nobody"'),
            "environments.dev.breach_contact",
            "impacted users",
        ),
    ],
)
def test_config_bad_value_names_file_field_and_fix(
    tmp_path: Path, change: tuple[str, str], field: str, fix: str
) -> None:
    path = _write(tmp_path, VALID.replace(*change, 1))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert str(path) in message and field in message and fix in message


def test_config_example_files_give_every_environment_its_own_staff_identity() -> None:
    for path in (OPERATOR_CONFIG, SELFHOSTED_CONFIG):
        for env in load_config(path).environments:
            staff = env.staff_tokens or env.staff_sign_in
            assert staff is not None and staff.issuer != env.jwt_issuer, f"{path.name} {env.name}"
            assert env.support_staff_claim and env.support_staff_role


def test_config_jwks_url_is_kept_as_a_url_and_nothing_is_baked(tmp_path: Path) -> None:
    text = VALID.replace('jwt_jwks_file = "jwks.json"', 'jwt_jwks_url = "https://idp.example.com/jwks.json"', 1)
    dev = load_config(_write(tmp_path, text)).environment("dev")
    assert (dev.user_tokens.jwks_url, dev.user_tokens.jwks) == ("https://idp.example.com/jwks.json", "")
    assert dev.staff_tokens is not None and dev.staff_tokens.jwks_url.startswith("https://staff.example.com/")
    assert dev.staff_sign_in is None and not dev.support_alb_oidc


def test_config_jwks_file_is_read_as_compact_public_keys(tmp_path: Path) -> None:
    text = VALID.replace(
        'support_jwt_jwks_url = "https://staff.example.com/.well-known/jwks.json"',
        'support_jwt_jwks_file = "jwks.json"',
    )
    dev = load_config(_write(tmp_path, text)).environment("dev")
    assert dev.staff_tokens is not None and dev.staff_tokens.jwks_url == ""
    assert (
        json.loads(dev.staff_tokens.jwks)["keys"][0]["kty"] == "RSA" and dev.user_tokens.jwks == dev.staff_tokens.jwks
    )


def test_config_support_oidc_replaces_staff_bearer_tokens(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace('kind = "dev"', f'kind = "dev"\n{NO_STAFF_BEARER}\n{STAFF_OIDC}', 1))
    dev = load_config(path).environment("dev")
    assert dev.support_alb_oidc and dev.staff_tokens is None
    assert dev.staff_sign_in is not None and dev.staff_sign_in.client_id == "adp-staff-console"
    assert dev.user_sign_in is None


def test_config_staff_identity_sharing_the_users_issuer_with_its_own_audience_is_accepted(tmp_path: Path) -> None:
    text = VALID.replace('kind = "dev"', 'kind = "dev"\nsupport_jwt_issuer = "https://idp.example.com/"', 1)
    dev = load_config(_write(tmp_path, text)).environment("dev")
    assert dev.staff_tokens is not None and dev.staff_tokens.issuer == dev.jwt_issuer
    assert dev.staff_tokens.audience != dev.jwt_audience


def test_config_bad_override_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'prod\.az_count'.*whole number"):
        load_config(_write(tmp_path, VALID), {"prod.az_count": "three"})
    with pytest.raises(ConfigError, match=r"'prod\.readers'.*Valid fields"):
        load_config(_write(tmp_path, VALID), {"prod.readers": "2"})


def _run_app(tmp_path: Path, context: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path / "out")}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_app_bad_config_exits_2_with_one_clear_error_and_no_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path, VALID.replace('kind = "prod"', 'kind = "prod"\ndeletion_protection = false', 1))
    result = _run_app(tmp_path, {"config": str(bad)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "jsii" not in result.stderr.lower()
    assert "environments.prod.deletion_protection" in result.stderr


def test_app_unknown_environment_lists_valid_ones(tmp_path: Path) -> None:
    result = _run_app(tmp_path, {"config": str(OPERATOR_CONFIG), "env": "staging"})
    assert result.returncode == 2
    assert "Valid environments: dev, qa, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_override_for_unknown_environment_is_refused_with_valid_names(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    with pytest.raises(ConfigError) as raised:
        load_config(path, {"production.db_reader_count": "3"})
    message = str(raised.value)
    assert "'production.db_reader_count'" in message and "no environment 'production'" in message
    assert "Valid environments: dev, prod" in message and str(path) in message


def test_config_context_keys_of_other_tools_are_ignored(tmp_path: Path) -> None:
    context = {"@aws-cdk/core:newStyleStackSynthesis": True, "config": "x.toml", "acme.vendor": "y"}
    assert load_config(_write(tmp_path, VALID), context).names == ("dev", "prod")


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        (f.name, bound)
        for f in fields(EnvironmentConfig)
        for bound in (
            (spec_of(f).low - 1 if spec_of(f).low is not None else None),
            (spec_of(f).high + 1 if spec_of(f).high is not None else None),
        )
        if bound is not None
    ],
)
def test_config_value_outside_a_fields_declared_range_is_refused(tmp_path: Path, field_name: str, value: int) -> None:
    path = _write(tmp_path, VALID.replace('kind = "dev"', f'kind = "dev"\n{field_name} = {value}', 1))
    with pytest.raises(ConfigError, match=rf"environments\.dev\.{field_name}: is {value};"):
        load_config(path)


def test_config_unset_fields_take_the_dataclass_defaults(tmp_path: Path) -> None:
    dev = load_config(_write(tmp_path, VALID)).environment("dev")
    set_in_valid = {"name", "kind", "account", "region", "vpc_cidr", "availability_zones", "jwt_jwks"}
    set_in_valid |= {line.split(" = ")[0] for line in VALID.splitlines() if " = " in line}
    for f in fields(EnvironmentConfig):
        if f.name not in set_in_valid:
            assert getattr(dev, f.name) == f.default, f.name
