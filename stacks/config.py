"""Environments as data: load a TOML config file, apply context overrides, validate.

Everything below `app.py` receives these frozen dataclasses; nothing else reads
files, environment variables or CDK context. A bad value raises ONE `ConfigError`
that names the file, the field and the fix, before any construct is built.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

EnvironmentKind = Literal["dev", "qa", "prod"]
# GuardDuty / Security Hub: create them here, use the account's existing ones (organisation-managed), or off.
AccountServiceMode = Literal["create", "existing", "off"]
ACCOUNT_SERVICES = ("guardduty", "securityhub")

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# The environment's customer-managed keys, one per purpose (P6).
KEY_PURPOSES = ("database", "application", "logs", "backups", "exports", "compute", "audit")
MIN_PROD_BACKUP_RETENTION_DAYS = 7
MAX_PITR_RETENTION_DAYS = 35  # the longest continuous-backup window AWS Backup and Aurora offer

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_INSTANCE_CLASS = re.compile(r"^[a-z][a-z0-9]*\.[a-z0-9]+$")


class ConfigError(Exception):
    """The configuration is invalid. The message names the file, the field and the fix."""


@dataclass(frozen=True)
class BearerIdentity:
    """An IdP whose bearer JWTs a service verifies: its public keys by URL, or a JWKS document (a file's)."""

    issuer: str
    audience: str
    jwks_url: str  # "" when the keys come from a file
    jwks: str  # the JWKS document (compact JSON) read from a file; "" when jwks_url is set


@dataclass(frozen=True)
class OidcClient:
    """A load balancer's OIDC sign-in: the IdP's endpoints, this client, and its secret's Secrets Manager name."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    user_info_endpoint: str
    client_id: str
    client_secret_name: str


@dataclass(frozen=True)
class EnvironmentConfig:
    """One segregated environment (P1): its own account/region, VPC, keys, database and cluster."""

    name: str
    kind: EnvironmentKind
    account: str
    region: str
    vpc_cidr: str
    az_count: int = 3
    availability_zones: tuple[str, ...] = ()
    nat_gateways: int = 1
    db_instance_class: str = "r6g.large"
    db_reader_count: int = 1
    db_port: int = 5432
    backup_retention_days: int = 35
    pitr_retention_days: int = 14
    deletion_protection: bool = True
    vault_lock_min_retention_days: int | None = None
    backup_copy_region: str | None = None
    log_retention_days: int = 365
    hipaa: bool = False
    # Compute and the public endpoint (P5, P7).
    domain_name: str = ""
    certificate_arn: str = ""
    support_certificate_arn: str = ""
    image_uri: str | None = None
    service_cpu: int = 512
    service_memory_mib: int = 1024
    service_min_tasks: int = 2
    service_max_tasks: int = 6
    ecs_exec: bool = True
    oidc_issuer: str | None = None
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_user_info_endpoint: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret_name: str | None = None
    # The users' identity provider: the data service verifies its bearer JWTs (P3). Its public keys come from
    # jwt_jwks_url (https://, fetched and cached by the tasks, so the IdP can rotate them) or, for air-gapped
    # installs, jwt_jwks_file (a JWKS next to the config file, baked into the task definition): exactly one.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_jwks_url: str = ""
    jwt_jwks_file: str = ""
    jwt_jwks: str = ""  # the file's content, read by the loader (not settable)
    # The support staff's identity (P4), never the users': bearer JWTs of the staff IdP (support_jwt_*), or
    # sign-in at the internal support load balancer with the staff IdP (support_oidc_*, all or none). Either
    # way, a caller is staff only when its support_staff_claim holds support_staff_role.
    support_jwt_issuer: str = ""
    support_jwt_audience: str = ""
    support_jwt_jwks_url: str = ""
    support_jwt_jwks_file: str = ""
    support_jwt_jwks: str = ""  # the file's content, read by the loader (not settable)
    support_oidc_issuer: str | None = None
    support_oidc_authorization_endpoint: str | None = None
    support_oidc_token_endpoint: str | None = None
    support_oidc_user_info_endpoint: str | None = None
    support_oidc_client_id: str | None = None
    support_oidc_client_secret_name: str | None = None
    support_staff_claim: str = ""
    support_staff_role: str = ""
    # Breach response (P12): who impacted users contact; the SES identity notifications come from.
    breach_contact: str = ""
    breach_sender: str | None = None
    # Support access (P4).
    vpn_client_cidr: str = "172.30.0.0/22"
    vpn_server_certificate_arn: str = ""
    vpn_client_root_certificate_arn: str | None = None
    vpn_saml_provider_arn: str | None = None
    vpn_support_group_id: str | None = None
    # Portability exports (P13) and audit (P12, P14).
    export_expiry_days: int = 30
    cloudtrail: bool = True
    guardduty: AccountServiceMode = "off"
    securityhub: AccountServiceMode = "off"
    alarm_email: str | None = None
    # Self-hosted installs that bring their own VPC and/or keys (no lookups: everything as data).
    existing_vpc_id: str | None = None
    existing_public_subnet_ids: tuple[str, ...] = ()
    existing_app_subnet_ids: tuple[str, ...] = ()
    existing_data_subnet_ids: tuple[str, ...] = ()
    existing_support_subnet_ids: tuple[str, ...] = ()
    existing_support_subnet_cidrs: tuple[str, ...] = ()
    existing_key_arns: tuple[str, ...] = ()  # "purpose=arn" pairs, e.g. "database=arn:aws:kms:..."

    @property
    def uses_existing_vpc(self) -> bool:
        return self.existing_vpc_id is not None

    @property
    def existing_keys(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in self.existing_key_arns)

    @property
    def vpn_uses_saml(self) -> bool:
        return self.vpn_saml_provider_arn is not None

    @property
    def alb_oidc(self) -> bool:
        return self.oidc_issuer is not None

    @property
    def user_sign_in(self) -> OidcClient | None:
        """Users sign in at the public load balancer (browser paths only; API paths take bearer tokens)."""
        return self._oidc_client("oidc_")

    @property
    def staff_sign_in(self) -> OidcClient | None:
        """Support staff sign in at the internal support load balancer with the staff IdP."""
        return self._oidc_client("support_oidc_")

    def _oidc_client(self, prefix: str) -> OidcClient | None:
        values = {f.name: getattr(self, prefix + f.name) for f in fields(OidcClient)}
        return OidcClient(**values) if values["issuer"] is not None else None

    @property
    def support_alb_oidc(self) -> bool:
        """Support staff sign in at the internal support load balancer (else: staff bearer tokens)."""
        return self.support_oidc_issuer is not None

    @property
    def user_tokens(self) -> BearerIdentity:
        """The users' IdP, whose bearer tokens the data service accepts."""
        return BearerIdentity(self.jwt_issuer, self.jwt_audience, self.jwt_jwks_url, self.jwt_jwks)

    @property
    def staff_tokens(self) -> BearerIdentity | None:
        """The staff IdP whose bearer tokens the support service accepts; None with support OIDC."""
        if self.support_alb_oidc:
            return None
        return BearerIdentity(
            self.support_jwt_issuer, self.support_jwt_audience, self.support_jwt_jwks_url, self.support_jwt_jwks
        )

    @property
    def is_production(self) -> bool:
        return self.kind == "prod"

    @property
    def longest_backup_retention_days(self) -> int:
        """How long any copy of the data can outlive its deletion (erasure receipts use this, P10)."""
        return max(self.backup_retention_days, self.pitr_retention_days)


@dataclass(frozen=True)
class PlatformConfig:
    """Every environment of one installation, as read from one config file."""

    source: str
    app_name: str
    environments: tuple[EnvironmentConfig, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(env.name for env in self.environments)

    def environment(self, name: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.name == name:
                return env
        raise ConfigError(
            f"{self.source}: unknown environment {name!r}. "
            f"Valid environments: {', '.join(self.names)}. Pass one of them with -c env=NAME."
        )

    def only(self, name: str | None) -> PlatformConfig:
        """This config narrowed to one environment (`-c env=NAME`), or unchanged for None."""
        if name is None:
            return self
        return PlatformConfig(self.source, self.app_name, (self.environment(name),))


_FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in fields(EnvironmentConfig)}
_SETTABLE = sorted(set(_FIELD_TYPES) - {"name", "jwt_jwks", "support_jwt_jwks"})


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> PlatformConfig:
    """Read `path`, apply `overrides` (`{"<env>.<field>": value}` from CDK context), validate."""
    path = Path(path)
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found. Pass an existing file with -c config=PATH.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}). Fix the syntax at that position.") from None

    unknown_top = set(raw) - {"app_name", "defaults", "environments"}
    if unknown_top:
        raise ConfigError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(unknown_top))}. "
            "Allowed: app_name, [defaults], [environments.<name>]."
        )
    app_name = raw.get("app_name", "adp")
    if not isinstance(app_name, str) or not _NAME.match(app_name):
        raise ConfigError(f'{source}: app_name={app_name!r} must be 2-16 lowercase letters/digits, e.g. "adp".')
    defaults = raw.get("defaults", {})
    envs = raw.get("environments", {})
    if not isinstance(envs, dict) or not envs:
        raise ConfigError(f"{source}: no environments. Add at least one [environments.<name>] table.")
    _check_keys(source, "defaults", defaults)

    merged: dict[str, dict[str, Any]] = {}
    for name, table in envs.items():
        if not _NAME.match(name):
            raise ConfigError(
                f"{source}: environment name {name!r} must be 2-16 lowercase letters/digits starting with a letter."
            )
        _check_keys(source, f"environments.{name}", table)
        merged[name] = {**defaults, **table}

    for key, value in (overrides or {}).items():
        env_name, _, field_name = key.partition(".")
        if env_name not in merged:
            continue  # not ours: a CDK feature flag or another tool's context key
        if field_name not in _SETTABLE:
            raise ConfigError(
                f"context override {key!r}: {field_name!r} is not a field. Valid fields: {', '.join(_SETTABLE)}."
            )
        merged[env_name][field_name] = _coerce(f"context override {key!r}", field_name, value)

    environments = tuple(_build(source, name, values, path.parent) for name, values in merged.items())
    _check_across(source, environments)
    return PlatformConfig(source=source, app_name=app_name, environments=environments)


def _check_keys(source: str, where: str, table: Any) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{where}] must be a table of field = value lines.")
    unknown = set(table) - set(_SETTABLE)
    if unknown:
        raise ConfigError(
            f"{source}: [{where}] has unknown field(s) {', '.join(sorted(unknown))}. "
            f"Valid fields: {', '.join(_SETTABLE)}."
        )


def _coerce(where: str, field_name: str, value: Any) -> Any:
    """Context values from `-c` arrive as strings; turn them into the field's type."""
    if not isinstance(value, str):
        return value
    kind = str(_FIELD_TYPES[field_name])
    if kind == "bool":
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where}: expected true or false, got {value!r}.")
    if kind.startswith("int"):
        if value.lower() in ("", "none", "null") and "None" in kind:
            return None
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {value!r}.") from None
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if "None" in kind and value.lower() in ("", "none", "null"):
        return None
    return value


def _build(source: str, name: str, values: dict[str, Any], folder: Path) -> EnvironmentConfig:
    where = f"{source}: environments.{name}"

    def fail(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}.{field_name}: {problem}")

    for required in ("kind", "account", "region", "vpc_cidr"):
        if required not in values:
            raise fail(required, "is missing. Set it in [defaults] or in this environment's table.")
    for key in ACCOUNT_SERVICES:
        if isinstance(values.get(key), bool):  # the former switch: true created the detector / hub
            values[key] = "create" if values[key] else "off"
    for key, value in values.items():
        _check_type(fail, key, value)
    for key in ACCOUNT_SERVICES:
        if values.get(key, "off") not in get_args(AccountServiceMode):
            raise fail(
                key,
                f'{values[key]!r} must be "create" (enable it here), "existing" (the account already has one, '
                'e.g. organisation-managed: nothing is created, its findings still notify) or "off".',
            )

    kind = values["kind"]
    if kind not in get_args(EnvironmentKind):
        raise fail("kind", f"{kind!r} is not one of dev, qa, prod.")
    if not _ACCOUNT.match(values["account"]):
        raise fail("account", f"{values['account']!r} is not a 12-digit AWS account id (quote it as a string).")
    region = values["region"]
    if not _REGION.match(region):
        raise fail("region", f'{region!r} is not an AWS region name such as "eu-west-1".')

    cidr = values["vpc_cidr"]
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise fail("vpc_cidr", f'{cidr!r} is not a valid IPv4 network ({exc}). Use e.g. "10.10.0.0/16".') from None
    if not 16 <= network.prefixlen <= 18 or not network.is_private:
        raise fail("vpc_cidr", f"{cidr!r} must be a private (RFC 1918) network between /16 and /18 (room for 4 tiers).")

    azs = tuple(values.get("availability_zones", ()))
    az_count = values.get("az_count", len(azs) if azs else 3)
    if azs and len(azs) != az_count:
        raise fail("availability_zones", f"lists {len(azs)} zones but az_count is {az_count}; make them agree.")
    if az_count < 2:
        raise fail("az_count", f"is {az_count}; the database needs at least 2 availability zones (P8). Set 2 or more.")
    if az_count > 6:
        raise fail("az_count", f"is {az_count}; use at most 6 availability zones.")
    if not azs:
        azs = tuple(f"{region}{letter}" for letter in "abcdef"[:az_count])
    for zone in azs:
        if not zone.startswith(region) or len(zone) != len(region) + 1:
            raise fail("availability_zones", f"{zone!r} is not a zone of {region} (expected e.g. {region}a).")
    if len(set(azs)) != len(azs):
        raise fail("availability_zones", "lists a zone twice; each must be distinct.")

    nat = values.get("nat_gateways", 1)
    if not 0 <= nat <= az_count:
        raise fail("nat_gateways", f"is {nat}; use 0 (no internet egress) up to az_count ({az_count}).")
    if not _INSTANCE_CLASS.match(values.get("db_instance_class", "r6g.large")):
        raise fail("db_instance_class", 'must look like "r6g.large" (without the "db." prefix).')
    readers = values.get("db_reader_count", 1)
    if readers < 1:
        raise fail("db_reader_count", f"is {readers}; at least one reader in another AZ is needed for failover (P8).")
    port = values.get("db_port", 5432)
    if not 1150 <= port <= 65535:
        raise fail("db_port", f"is {port}; Aurora accepts ports 1150-65535.")

    backup_days = values.get("backup_retention_days", 35)
    pitr_days = values.get("pitr_retention_days", 14)
    if backup_days < 1:
        raise fail("backup_retention_days", f"is {backup_days}; daily backups must be kept at least 1 day (P9).")
    if not 1 <= pitr_days <= MAX_PITR_RETENTION_DAYS:
        raise fail("pitr_retention_days", f"is {pitr_days}; point-in-time recovery keeps 1 to 35 days (P11).")
    if kind == "prod" and not values.get("deletion_protection", True):
        raise fail("deletion_protection", "is false; production must keep deletion protection on. Set it to true.")
    if kind == "prod" and backup_days < MIN_PROD_BACKUP_RETENTION_DAYS:
        raise fail(
            "backup_retention_days",
            f"is {backup_days}; production keeps daily backups at least {MIN_PROD_BACKUP_RETENTION_DAYS} days "
            "(P9). Set 7 or more.",
        )
    log_days = values.get("log_retention_days", 365)
    if log_days not in LOG_RETENTION_DAYS:
        raise fail(
            "log_retention_days",
            f"is {log_days}; CloudWatch Logs accepts {', '.join(map(str, LOG_RETENTION_DAYS))}.",
        )

    lock_days = values.get("vault_lock_min_retention_days")
    if lock_days is not None and not 1 <= lock_days <= min(backup_days, pitr_days):
        raise fail(
            "vault_lock_min_retention_days",
            f"is {lock_days}; it must be at least 1 and no longer than both backup_retention_days ({backup_days}) "
            f"and pitr_retention_days ({pitr_days}), or AWS Backup rejects the shorter backups.",
        )
    copy_region = values.get("backup_copy_region")
    if copy_region is not None and (not _REGION.match(copy_region) or copy_region == region):
        raise fail("backup_copy_region", f"{copy_region!r} must be another AWS region than {region}, or be omitted.")

    if kind == "prod" and lock_days is None:
        raise fail(
            "vault_lock_min_retention_days",
            "is missing; production backups need a vault lock so nobody can shorten or delete them (P9). Set e.g. 7.",
        )

    _check_service(fail, values, region, values["account"], kind)
    _check_vpn(fail, values, network, region, values["account"])
    _check_existing(fail, values, az_count, region, values["account"])
    values["jwt_jwks"] = _identity_provider(fail, values, folder, "jwt_")
    values["support_jwt_jwks"] = _staff_identity(fail, values, folder)
    if not re.match(r"^\S+@\S+\.\S+$|^https://\S+$", values.get("breach_contact", "")):
        raise fail("breach_contact", "is missing; give the address or https:// page impacted users contact (P12).")
    if values.get("breach_sender") and not re.match(r"^\S+@\S+\.\S+$", values["breach_sender"]):
        raise fail("breach_sender", "must be the verified SES e-mail address breach notifications are sent from.")
    return EnvironmentConfig(
        **{**values, "name": name, "az_count": az_count, "availability_zones": azs},
    )


def _identity_provider(fail: Any, values: dict[str, Any], folder: Path, prefix: str) -> str:
    """An IdP's issuer, audience and public keys (`<prefix>issuer`, ...): a service verifies bearer tokens with
    them. Returns the JWKS file's content (compact JSON), or "" when the keys come from `<prefix>jwks_url`."""
    issuer, audience, jwks_url, jwks_file = (
        values.get(f"{prefix}{k}", "") for k in ("issuer", "audience", "jwks_url", "jwks_file")
    )
    if not _https_url(issuer):
        raise fail(f"{prefix}issuer", f"{issuer!r} must be the identity provider's https:// issuer URL.")
    if not audience:
        raise fail(f"{prefix}audience", "is missing; give the audience the IdP puts in tokens for this platform.")
    if bool(jwks_url) == bool(jwks_file):
        raise fail(
            f"{prefix}jwks_url",
            f"set exactly one of {prefix}jwks_url (the IdP's https:// JWKS endpoint: keys can rotate) or "
            f"{prefix}jwks_file (a JWKS file next to the config, for air-gapped installs).",
        )
    if jwks_url:
        if not _https_url(jwks_url):
            raise fail(
                f"{prefix}jwks_url",
                f"{jwks_url!r} must be an https:// URL (P5): the tasks fetch the IdP's keys over TLS only.",
            )
        return ""
    path = folder / jwks_file
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"{prefix}jwks_file", f"{path} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{prefix}jwks_file", f"{path} is not valid JSON ({exc}).") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not keys or any("d" in key for key in keys if isinstance(key, dict)):
        raise fail(
            f"{prefix}jwks_file", f'{path} must be a JWKS with public keys only (a "keys" list, no private parts).'
        )
    return json.dumps(document, separators=(",", ":"))


_SUPPORT_JWT = ("support_jwt_issuer", "support_jwt_audience", "support_jwt_jwks_url", "support_jwt_jwks_file")
SUPPORT_OIDC = (
    "support_oidc_issuer",
    "support_oidc_authorization_endpoint",
    "support_oidc_token_endpoint",
    "support_oidc_user_info_endpoint",
    "support_oidc_client_id",
    "support_oidc_client_secret_name",
)
# The runtime's rules for claim and role names (runtime/service/config.py), so a bad value fails at synth.
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_:./-]{0,63}")
_ROLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:./@-]{0,127}")
_HTTPS_URL = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?")


def _https_url(value: Any) -> bool:
    return isinstance(value, str) and _HTTPS_URL.fullmatch(value) is not None


def _same_issuer(first: Any, second: Any) -> bool:
    return str(first or "").rstrip("/") == str(second or "").rstrip("/")


def _staff_identity(fail: Any, values: dict[str, Any], folder: Path) -> str:
    """P4: support staff have an identity of their own, which no customer's token or sign-in satisfies."""
    bearer = [key for key in _SUPPORT_JWT if values.get(key)]
    oidc = [key for key in SUPPORT_OIDC if values.get(key)]
    choice = (
        "set support_jwt_issuer, support_jwt_audience and support_jwt_jwks_url (or support_jwt_jwks_file) for "
        f"staff bearer tokens, or all of {', '.join(SUPPORT_OIDC)} for sign-in at the support load balancer"
    )
    if not bearer and not oidc:
        raise fail(
            "support_jwt_issuer",
            f"is missing; support staff need an identity of their own, never the users' (P4): {choice}.",
        )
    if bearer and oidc:
        raise fail(bearer[0], f"and {oidc[0]} are both set; choose one staff identity: {choice}.")
    claim, role = values.get("support_staff_claim", ""), values.get("support_staff_role", "")
    if not _CLAIM.fullmatch(claim):
        raise fail(
            "support_staff_claim",
            f"{claim!r} must name the staff IdP's claim that lists a caller's roles or groups, e.g. "
            '"staff_roles" (required: only callers holding support_staff_role in it are staff, P4).',
        )
    if not _ROLE.fullmatch(role):
        raise fail(
            "support_staff_role",
            f"{role!r} must be the one role (or group) that makes a caller support staff, e.g. "
            '"platform-support" (letters, digits, _ : . / @ -; required, P4).',
        )
    users = [("jwt_issuer", "jwt_audience")]
    if values.get("oidc_issuer"):
        users.append(("oidc_issuer", "oidc_client_id"))
    if oidc:
        if len(oidc) != len(SUPPORT_OIDC):
            missing = [key for key in SUPPORT_OIDC if key not in oidc]
            raise fail(
                missing[0],
                f"is missing; support load balancer OIDC needs all of {', '.join(SUPPORT_OIDC)} or none of them.",
            )
        for key in SUPPORT_OIDC[:4]:
            if not _https_url(values[key]):
                raise fail(key, f"{values[key]!r} must be an https:// URL (P5).")
        staff = ("support_oidc_issuer", "support_oidc_client_id")
        jwks = ""
    else:
        staff = ("support_jwt_issuer", "support_jwt_audience")
        jwks = _identity_provider(fail, values, folder, "support_jwt_")
    for issuer, audience in users:
        if _same_issuer(values[staff[0]], values.get(issuer)) and values[staff[1]] == values.get(audience):
            raise fail(
                staff[1],
                f"{staff[0]} and {staff[1]} equal the users' {issuer} and {audience}: any customer's token "
                "(or sign-in) would open the support API (P4). Give support staff their own issuer or audience "
                "(client id), e.g. a separate application at the staff IdP.",
            )
    return jwks


def _arn_check(fail: Any, field_name: str, value: Any, service: str, resource: str, region: str, account: str) -> None:
    """P1: an ARN in an environment's config must belong to that environment's account (and region)."""
    pattern = rf"^arn:aws[a-z-]*:{service}:{region if region else ''}:{account}:{resource}.+$"
    if not isinstance(value, str) or not re.match(pattern, value):
        where = f"{region}, " if region else ""
        raise fail(
            field_name,
            f"{value!r} is not a {service} {resource.rstrip('/:')} ARN of this environment ({where}account {account}). "
            "Each environment uses only its own resources (P1).",
        )


def _check_service(fail: Any, values: dict[str, Any], region: str, account: str, kind: str) -> None:
    if not values.get("certificate_arn"):
        raise fail("certificate_arn", "is missing; the public HTTPS listener needs an ACM certificate ARN (P5).")
    _arn_check(fail, "certificate_arn", values["certificate_arn"], "acm", "certificate/", region, account)
    if values.get("support_certificate_arn"):
        _arn_check(
            fail, "support_certificate_arn", values["support_certificate_arn"], "acm", "certificate/", region, account
        )
    if not re.match(r"^([a-z0-9-]+\.)+[a-z]{2,}$", values.get("domain_name", "")):
        raise fail(
            "domain_name", f"{values.get('domain_name')!r} must be the service's DNS name, e.g. api.example.com."
        )
    low, high = values.get("service_min_tasks", 2), values.get("service_max_tasks", 6)
    minimum = 2 if kind == "prod" else 1
    if not minimum <= low <= high <= 100:
        raise fail(
            "service_min_tasks",
            f"is {low} with service_max_tasks {high}; need {minimum} <= min <= max <= 100 "
            f"({'two tasks keep prod up across a zone failure' if kind == 'prod' else 'at least one task'}).",
        )
    oidc = [
        "oidc_issuer",
        "oidc_authorization_endpoint",
        "oidc_token_endpoint",
        "oidc_user_info_endpoint",
        "oidc_client_id",
        "oidc_client_secret_name",
    ]
    given = [key for key in oidc if values.get(key)]
    if given and len(given) != len(oidc):
        missing = sorted(set(oidc) - set(given))
        raise fail(missing[0], f"is missing; load balancer OIDC needs all of {', '.join(oidc)} or none of them.")
    for key in oidc[:4]:
        if values.get(key) and not str(values[key]).startswith("https://"):
            raise fail(key, f"{values[key]!r} must be an https:// URL (P5).")
    if not 1 <= values.get("export_expiry_days", 30) <= 365:
        raise fail("export_expiry_days", "must be 1-365 days; exports are a download window, not storage (P13).")


def _check_vpn(fail: Any, values: dict[str, Any], network: ipaddress.IPv4Network, region: str, account: str) -> None:
    if not values.get("vpn_server_certificate_arn"):
        raise fail("vpn_server_certificate_arn", "is missing; the support VPN needs an ACM server certificate (P4).")
    _arn_check(
        fail, "vpn_server_certificate_arn", values["vpn_server_certificate_arn"], "acm", "certificate/", region, account
    )
    mutual, saml = values.get("vpn_client_root_certificate_arn"), values.get("vpn_saml_provider_arn")
    if bool(mutual) == bool(saml):
        raise fail(
            "vpn_client_root_certificate_arn",
            "set exactly one VPN authentication: vpn_client_root_certificate_arn (mutual TLS) "
            "or vpn_saml_provider_arn with vpn_support_group_id (SAML).",
        )
    if mutual:
        _arn_check(fail, "vpn_client_root_certificate_arn", mutual, "acm", "certificate/", region, account)
    if saml:
        _arn_check(fail, "vpn_saml_provider_arn", saml, "iam", "saml-provider/", "", account)
        if not values.get("vpn_support_group_id"):
            raise fail("vpn_support_group_id", "is missing; with SAML, only the support group is authorized (P4).")
    cidr = values.get("vpn_client_cidr", "172.30.0.0/22")
    try:
        clients = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise fail("vpn_client_cidr", f"{cidr!r} is not a valid IPv4 network ({exc}).") from None
    if not 12 <= clients.prefixlen <= 22 or clients.overlaps(network):
        raise fail(
            "vpn_client_cidr",
            f"{cidr!r} must be /12 to /22 and must not overlap vpc_cidr ({network}) (AWS Client VPN).",
        )


def _check_existing(fail: Any, values: dict[str, Any], az_count: int, region: str, account: str) -> None:
    if values.get("existing_vpc_id"):
        if not re.match(r"^vpc-[0-9a-f]{8,17}$", values["existing_vpc_id"]):
            raise fail("existing_vpc_id", f"{values['existing_vpc_id']!r} is not a VPC id (vpc-...).")
        for tier in ("public", "app", "data", "support"):
            key = f"existing_{tier}_subnet_ids"
            ids = values.get(key, ())
            if len(ids) != az_count or not all(re.match(r"^subnet-[0-9a-f]{8,17}$", i) for i in ids):
                raise fail(
                    key, f"must list {az_count} subnet ids (subnet-...), one per availability zone, in zone order."
                )
        cidrs = values.get("existing_support_subnet_cidrs", ())
        if len(cidrs) != az_count:
            raise fail("existing_support_subnet_cidrs", f"must list the {az_count} support subnets' CIDRs (P4 rules).")
    else:
        for key in [k for k in values if k.startswith("existing_") and k != "existing_key_arns" and values[k]]:
            raise fail(key, "is set but existing_vpc_id is not; give the VPC id too, or remove the existing_* fields.")
    for pair in values.get("existing_key_arns", ()):
        purpose, _, arn = pair.partition("=")
        if purpose not in KEY_PURPOSES:
            raise fail(
                "existing_key_arns", f"{pair!r}: purpose must be one of {', '.join(KEY_PURPOSES)} (purpose=arn)."
            )
        _arn_check(fail, "existing_key_arns", arn, "kms", "key/", region, account)


def _check_type(fail: Any, key: str, value: Any) -> None:
    kind = str(_FIELD_TYPES[key])
    if kind == "bool":
        ok = isinstance(value, bool)
        expected = "true or false"
    elif kind.startswith("int"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (value is None and "None" in kind)
        expected = "a whole number"
    elif kind.startswith("tuple"):
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        expected = "a list of strings"
    else:
        ok = isinstance(value, str) or (value is None and "None" in kind)
        expected = "a string (in quotes)"
    if not ok:
        raise fail(key, f"{value!r} has the wrong type; expected {expected}.")


def _check_across(source: str, environments: tuple[EnvironmentConfig, ...]) -> None:
    """P1: environments are segregated, so their address spaces may never overlap (no peering surprises)."""
    for i, first in enumerate(environments):
        for second in environments[i + 1 :]:
            if ipaddress.IPv4Network(first.vpc_cidr).overlaps(ipaddress.IPv4Network(second.vpc_cidr)):
                raise ConfigError(
                    f"{source}: environments.{first.name}.vpc_cidr ({first.vpc_cidr}) overlaps "
                    f"environments.{second.name}.vpc_cidr ({second.vpc_cidr}). Give each environment its own "
                    "non-overlapping range (P1)."
                )
