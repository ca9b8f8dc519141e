"""Environments as data: load a TOML config file, apply context overrides, validate.

Everything below `app.py` receives these frozen dataclasses; nothing else reads
files, environment variables or CDK context. A bad value raises ONE `ConfigError`
that names the file, the field and the fix, before any construct is built.

The dataclass fields are the one source of every field's type, default, range and
documentation (`FieldSpec` in each field's metadata). Loading maps the TOML values onto
the fields generically (a type check per annotation, then each field's own range, pattern
or choices); the rules that relate fields run on the typed object, one small function per
rule (`RULES`). `config/README.md`'s field table is generated from the same metadata:
`python -m stacks.config` rewrites it, and a test fails when it is out of date.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

EnvironmentKind = Literal["dev", "qa", "prod"]
# GuardDuty / Security Hub: create them here, use the account's existing ones (organisation-managed), or off.
AccountServiceMode = Literal["create", "existing", "off"]
# Per-organisation keys (P6, P10) or the environment's one shared key (dev and qa only): runtime/wiring/keyring.py.
KeyringMode = Literal["per-organisation", "shared"]
# KMS's range for ScheduleKeyDeletion's PendingWindowInDays (runtime/envelope/keyrings/organisation.py).
MIN_KEY_DELETION_PENDING_DAYS = 7
MAX_KEY_DELETION_PENDING_DAYS = 30
ACCOUNT_SERVICES = ("guardduty", "securityhub")
# The audit sequencer's cadence (runtime/bounds.py AUDIT_CHECKPOINT_EVERY / _SECONDS: the runtime checks the same).
AUDIT_CHECKPOINT_EVERY = (100, 1_000_000)
AUDIT_CHECKPOINT_SECONDS = (1, 3600)
MAX_AUDIT_CHECKPOINT_RETENTION_DAYS = 36500  # S3 Object Lock's longest default retention (100 years)

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
# A new VPC's four tiers per zone (stacks/network.py: an app /20, three /24) fit a /18 for three zones.
VPC_PREFIXES = (16, 18)
VPN_CLIENT_PREFIXES = (12, 22)  # what AWS Client VPN accepts
MAX_TASKS = 100

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_NAME = re.compile(r"[a-z][a-z0-9]{1,15}")
_INSTANCE_CLASS = re.compile(r"[a-z][a-z0-9]*\.[a-z0-9]+")
_DOMAIN = re.compile(r"([a-z0-9-]+\.)+[a-z]{2,}")
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_CONTACT = re.compile(r"\S+@\S+\.\S+|https://\S+")
# The runtime's rules for claim and role names (runtime/service/config.py), so a bad value fails at synth.
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_:./-]{0,63}")
_ROLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:./@-]{0,127}")
_HTTPS_URL = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?")


class ConfigError(Exception):
    """The configuration is invalid. The message names the file, the field and the fix."""


@dataclass(frozen=True)
class FieldSpec:
    """One field's documentation and its own checks (the loader applies them; the README shows them).

    `fix` is the error after `environments.<name>.<field>: ` when the value misses `low`/`high`,
    `pattern` or the annotation's Literal choices (`{value}` is the value); `missing` makes the field
    required: the error when it is absent or empty. `shown` is the README's default when not the value.
    """

    doc: str
    shown: str | None = None
    allowed: str | None = None
    low: int | None = None
    high: int | None = None
    choices: tuple[object, ...] = ()
    pattern: re.Pattern[str] | None = None
    fix: str = ""
    missing: str = ""
    settable: bool = True


def _spec(doc: str, **checks: Any) -> dict[str, FieldSpec]:
    return {"spec": FieldSpec(doc, **checks)}


def spec_of(f: Field[Any]) -> FieldSpec:
    spec = f.metadata.get("spec")
    return spec if isinstance(spec, FieldSpec) else FieldSpec("")


_OIDC_DOC = (
    "sign users in at the public load balancer, on browser paths only (API paths `/v1/*`, `/healthz`, `/readyz`, "
    "`/openapi.json` are forwarded without sign-in and take bearer tokens; the data service then runs in "
    "`alb-oidc+bearer-jwt` mode); all or none. The secret is a Secrets Manager name, resolved at deploy."
)
_SUPPORT_OIDC_DOC = (
    "instead of `support_jwt_*`: staff sign in with the staff IdP at the internal support load balancer, whose "
    "signed header the support service then trusts (and nothing else); all or none; https:// endpoints; the secret "
    "is a Secrets Manager name. The load balancer calls the token and user-info endpoints itself (its security "
    "group allows HTTPS out), so they must be reachable from the support subnets: a new VPC's support subnets have "
    "no route out, so use this with an existing VPC that routes to the IdP (or an IdP inside the VPC), else use "
    "`support_jwt_*`."
)
_SUBNETS_DOC = "with `existing_vpc_id`: the existing VPC's subnet ids of that tier, one per zone, in zone order."
_HTTPS = "https://"
_ACCOUNT_SERVICE = _spec(
    '`"create"`: enable GuardDuty / Security Hub here; `"existing"`: the account already has its detector / '
    "hub (usual where an organisation manages them; creating a second one fails), so none is created; "
    '`"off"`. With `"create"` or `"existing"`, their high and critical findings notify the incident topic. '
    '(`true` / `false` still mean `"create"` / `"off"`.)',
    fix='{value!r} must be "create" (enable it here), "existing" (the account already has one, '
    'e.g. organisation-managed: nothing is created, its findings still notify) or "off".',
)
_STAFF_BEARER = _spec(
    "support staff's own identity (P4): the `iss` (https://) and `aud` of the staff IdP's bearer tokens "
    "that the support service accepts."
)
_STAFF_KEYS = _spec(
    "the staff IdP's public keys: exactly one, with the same rules as `jwt_jwks_url` / `jwt_jwks_file`."
)
_VPN_SAML = _spec(
    "SAML VPN: the IAM SAML provider and the IdP group allowed in. Set exactly one of mutual TLS or SAML."
)
_READ_FROM_FILE = _spec("the file's content, read by the loader.", settable=False)
_FARGATE = _spec("Fargate size of each data-service task.")


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

    name: str = field(metadata=_spec("the environment's name: its `[environments.<name>]` table.", settable=False))
    kind: EnvironmentKind = field(
        metadata=_spec(
            "`prod` enforces deletion protection, >= 7 days of daily backups, a vault lock and two tasks, and "
            "keeps its stores when a stack is deleted; `dev` and `qa` delete theirs and can be torn down "
            "(`python -m stacks.teardown --env NAME`, see Tear down below).",
            fix="{value!r} is not one of dev, qa, prod.",
        )
    )
    account: str = field(
        metadata=_spec(
            "12-digit AWS account id, as a string.",
            pattern=_ACCOUNT,
            fix="{value!r} is not a 12-digit AWS account id (quote it as a string).",
        )
    )
    region: str = field(
        metadata=_spec(
            'AWS region, e.g. `"eu-west-1"`.',
            pattern=_REGION,
            fix='{value!r} is not an AWS region name such as "eu-west-1".',
        )
    )
    vpc_cidr: str = field(
        metadata=_spec(
            "the VPC's IPv4 range; must not overlap any other environment's (P1).",
            allowed=f"private (RFC 1918), /{VPC_PREFIXES[0]} to /{VPC_PREFIXES[1]}",
        )
    )
    az_count: int = field(
        default=3,
        metadata=_spec(
            "availability zones (P8: the database needs two).",
            shown="3, or the number of `availability_zones`",
            low=2,
            high=6,
            fix="is {value}; the database needs at least 2 availability zones (P8), and at most 6 are used. "
            "Set 2 to 6.",
        ),
    )
    availability_zones: tuple[str, ...] = field(
        default=(),
        metadata=_spec(
            "explicit zone names, if your account's differ; synth never looks them up.",
            shown="region + a, b, c...",
            allowed="`az_count` distinct zones of `region`",
        ),
    )
    nat_gateways: int = field(
        default=1,
        metadata=_spec(
            "NAT gateways for the app tier's egress; 0 makes the app tier isolated too.",
            allowed="0 to `az_count`",
        ),
    )
    db_instance_class: str = field(
        default="r6g.large",
        metadata=_spec(
            "Aurora instance class without the `db.` prefix.",
            pattern=_INSTANCE_CLASS,
            fix='must look like "r6g.large" (without the "db." prefix).',
        ),
    )
    db_reader_count: int = field(
        default=1,
        metadata=_spec(
            "readers, placed in the other zones first (P8).",
            low=1,
            fix="is {value}; at least one reader in another AZ is needed for failover (P8).",
        ),
    )
    db_port: int = field(
        default=5432,
        metadata=_spec("database port.", low=1150, high=65535, fix="is {value}; Aurora accepts ports 1150-65535."),
    )
    backup_retention_days: int = field(
        default=35,
        metadata=_spec(
            "how long daily snapshots (and cross-region copies) are kept (P9).",
            allowed=f">= 1 (prod: >= {MIN_PROD_BACKUP_RETENTION_DAYS})",
            low=1,
            fix="is {value}; daily backups must be kept at least 1 day (P9).",
        ),
    )
    pitr_retention_days: int = field(
        default=14,
        metadata=_spec(
            "point-in-time recovery window (P11).",
            low=1,
            high=MAX_PITR_RETENTION_DAYS,
            fix=f"is {{value}}; point-in-time recovery keeps 1 to {MAX_PITR_RETENTION_DAYS} days (P11).",
        ),
    )
    keyring_mode: KeyringMode = field(
        default="per-organisation",
        metadata=_spec(
            "whose key wraps an organisation's data keys (P6, P10): `per-organisation` (its own KMS key, created by "
            "the lifecycle job's `org provision-keys` and destroyed by its erasure, so no restored backup can be "
            "read) or `shared` (the environment's application key: a restored backup still decrypts an erased "
            "organisation; dev and qa only).",
            fix="{value!r} is not one of per-organisation, shared.",
        ),
    )
    key_deletion_pending_days: int = field(
        default=7,
        metadata=_spec(
            "erasure schedules deletion of the organisation's KMS key with this pending window (P10): the receipt's "
            "`complete_everywhere_by` is erasure + this + the data-key cache's max age.",
            low=MIN_KEY_DELETION_PENDING_DAYS,
            high=MAX_KEY_DELETION_PENDING_DAYS,
            fix=f"is {{value}}; KMS schedules key deletion {MIN_KEY_DELETION_PENDING_DAYS} to "
            f"{MAX_KEY_DELETION_PENDING_DAYS} days ahead.",
        ),
    )
    deletion_protection: bool = field(
        default=True,
        metadata=_spec(
            "deletion protection of the database cluster and the load balancers (must stay on in `prod`). "
            "`python -m stacks.teardown` lifts it for a `dev` or `qa` environment when it tears that down."
        ),
    )
    vault_lock_min_retention_days: int | None = field(
        default=None,
        metadata=_spec(
            "AWS Backup vault lock (compliance mode after 3 days); required in `prod`.",
            allowed="1 to min(`backup_retention_days`, `pitr_retention_days`)",
        ),
    )
    backup_copy_region: str | None = field(
        default=None,
        metadata=_spec(
            "another region to copy daily backups to, into a vault with its own key (bootstrap that region too).",
            allowed="an AWS region other than `region`",
        ),
    )
    log_retention_days: int = field(
        default=365,
        metadata=_spec(
            "CloudWatch Logs retention.",
            choices=LOG_RETENTION_DAYS,
            fix=f"is {{value}}; CloudWatch Logs accepts {', '.join(map(str, LOG_RETENTION_DAYS))}.",
        ),
    )
    hipaa: bool = field(
        default=False,
        metadata=_spec("self-hosted HIPAA mode: HTTPS from the load balancer to the tasks, which terminate TLS (P5)."),
    )
    # Compute and the public endpoint (P5, P7).
    domain_name: str = field(
        default="",
        metadata=_spec(
            "the service's DNS name; point it at the public load balancer (stack output).",
            pattern=_DOMAIN,
            fix="{value!r} must be the service's DNS name, e.g. api.example.com.",
            missing="is missing; it must be the service's DNS name, e.g. api.example.com.",
        ),
    )
    certificate_arn: str = field(
        default="",
        metadata=_spec(
            "ACM certificate of the public HTTPS listener, in this account and region.",
            missing="is missing; the public HTTPS listener needs an ACM certificate ARN (P5).",
        ),
    )
    support_certificate_arn: str = field(
        default="",
        metadata=_spec("ACM certificate of the internal support load balancer.", shown="`certificate_arn`"),
    )
    image_uri: str | None = field(
        default=None,
        metadata=_spec("the runtime image; none builds `runtime/Dockerfile` at deploy. An ECR URI gets pull rights."),
    )
    service_cpu: int = field(default=512, metadata=_FARGATE)
    service_memory_mib: int = field(default=1024, metadata=_FARGATE)
    service_min_tasks: int = field(
        default=2,
        metadata=_spec(
            "autoscaling bounds (prod needs at least 2).",
            allowed=f"1 (prod: 2) <= min <= max <= {MAX_TASKS}",
        ),
    )
    service_max_tasks: int = field(default=6, metadata=_spec("autoscaling bounds (prod needs at least 2)."))
    ecs_exec: bool = field(
        default=True,
        metadata=_spec("ECS Exec into tasks (KMS-encrypted, every session logged); false disables it."),
    )
    oidc_issuer: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    oidc_authorization_endpoint: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    oidc_token_endpoint: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    oidc_user_info_endpoint: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    oidc_client_id: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    oidc_client_secret_name: str | None = field(default=None, metadata=_spec(_OIDC_DOC))
    # The users' identity provider: the data service verifies its bearer JWTs (P3). Its public keys come from
    # jwt_jwks_url (https://, fetched and cached by the tasks, so the IdP can rotate them) or, for air-gapped
    # installs, jwt_jwks_file (a JWKS next to the config file, baked into the task definition): exactly one.
    jwt_issuer: str = field(
        default="",
        metadata=_spec(
            "the users' IdP: the `iss` (https://) of the bearer tokens the data service accepts (P3).",
            shown="(required)",
        ),
    )
    jwt_audience: str = field(
        default="",
        metadata=_spec("the `aud` the users' IdP puts in tokens for this platform.", shown="(required)"),
    )
    jwt_jwks_url: str = field(
        default="",
        metadata=_spec(
            "the users' IdP's public keys (JWKS) over https://: the tasks fetch and cache them and refresh on an "
            "unknown `kid`, so the IdP can rotate keys without a redeploy. Set exactly one of this or "
            "`jwt_jwks_file`."
        ),
    )
    jwt_jwks_file: str = field(
        default="",
        metadata=_spec(
            "air-gapped installs: a JWKS file (public keys only), relative to the config file; its content is put "
            "in the task definition, so a key rotation needs a redeploy."
        ),
    )
    jwt_jwks: str = field(default="", metadata=_READ_FROM_FILE)  # read by the loader (not settable)
    # The support staff's identity (P4), never the users': bearer JWTs of the staff IdP (support_jwt_*), or
    # sign-in at the internal support load balancer with the staff IdP (support_oidc_*, all or none). Either
    # way, a caller is staff only when its support_staff_claim holds support_staff_role.
    support_jwt_issuer: str = field(default="", metadata=_STAFF_BEARER)
    support_jwt_audience: str = field(default="", metadata=_STAFF_BEARER)
    support_jwt_jwks_url: str = field(default="", metadata=_STAFF_KEYS)
    support_jwt_jwks_file: str = field(default="", metadata=_STAFF_KEYS)
    support_jwt_jwks: str = field(default="", metadata=_READ_FROM_FILE)
    support_oidc_issuer: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_oidc_authorization_endpoint: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_oidc_token_endpoint: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_oidc_user_info_endpoint: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_oidc_client_id: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_oidc_client_secret_name: str | None = field(default=None, metadata=_spec(_SUPPORT_OIDC_DOC))
    support_staff_claim: str = field(
        default="",
        metadata=_spec(
            "no default: the staff IdP's claim listing a caller's roles or groups (a string or a list).",
            shown="(required)",
            allowed="letters, digits, _ : . / - (up to 64)",
            pattern=_CLAIM,
            fix="{value!r} must name the staff IdP's claim that lists a caller's roles or groups, e.g. "
            '"staff_roles" (required: only callers holding support_staff_role in it are staff, P4).',
            missing="is missing; it must name the staff IdP's claim that lists a caller's roles or groups, e.g. "
            '"staff_roles" (required: only callers holding support_staff_role in it are staff, P4).',
        ),
    )
    support_staff_role: str = field(
        default="",
        metadata=_spec(
            "no default: the one value in `support_staff_claim` that makes the caller support staff. Anyone else "
            "gets the same refusal on every support route (P4).",
            shown="(required)",
            allowed="letters, digits, _ : . / @ - (up to 128)",
            pattern=_ROLE,
            fix="{value!r} must be the one role (or group) that makes a caller support staff, e.g. "
            '"platform-support" (letters, digits, _ : . / @ -; required, P4).',
            missing="is missing; it must be the one role (or group) that makes a caller support staff, e.g. "
            '"platform-support" (letters, digits, _ : . / @ -; required, P4).',
        ),
    )
    # Breach response (P12): who impacted users contact; the SES identity notifications come from.
    breach_contact: str = field(
        default="",
        metadata=_spec(
            "who users impacted by a breach contact (P12): an e-mail address or an https:// page, put in every "
            "breach notification.",
            shown="(required)",
            allowed="an e-mail address or https:// URL",
            pattern=_CONTACT,
            fix="is missing; give the address or https:// page impacted users contact (P12).",
            missing="is missing; give the address or https:// page impacted users contact (P12).",
        ),
    )
    breach_sender: str | None = field(
        default=None,
        metadata=_spec(
            "the verified SES e-mail identity breach notifications are sent from (the tasks may send as it only).",
            allowed="an e-mail address",
            pattern=_EMAIL,
            fix="must be the verified SES e-mail address breach notifications are sent from.",
        ),
    )
    # Support access (P4).
    vpn_client_cidr: str = field(
        default="172.30.0.0/22",
        metadata=_spec(
            "addresses given to VPN clients (not overlapping the VPC).",
            allowed=f"/{VPN_CLIENT_PREFIXES[0]} to /{VPN_CLIENT_PREFIXES[1]}",
        ),
    )
    vpn_server_certificate_arn: str = field(
        default="",
        metadata=_spec(
            "ACM server certificate of the support Client VPN.",
            missing="is missing; the support VPN needs an ACM server certificate (P4).",
        ),
    )
    vpn_client_root_certificate_arn: str | None = field(
        default=None,
        metadata=_spec("mutual-TLS VPN: the CA that signed support staff's client certificates."),
    )
    vpn_saml_provider_arn: str | None = field(default=None, metadata=_VPN_SAML)
    vpn_support_group_id: str | None = field(default=None, metadata=_VPN_SAML)
    # Portability exports (P13) and audit (P12, P14).
    export_expiry_days: int = field(
        default=30,
        metadata=_spec(
            "exports are deleted from the export bucket after this many days (P13).",
            low=1,
            high=365,
            fix="is {value}; it must be 1-365 days; exports are a download window, not storage (P13).",
        ),
    )
    cloudtrail: bool = field(
        default=True,
        metadata=_spec("create the account trail; false when an organisation trail already covers the account."),
    )
    audit_checkpoint_every: int = field(
        default=1000,
        metadata=_spec(
            "the audit sequencer signs a checkpoint of the chain at most this many events after the last (P14).",
            low=AUDIT_CHECKPOINT_EVERY[0],
            high=AUDIT_CHECKPOINT_EVERY[1],
            fix=f"is {{value}}; use {AUDIT_CHECKPOINT_EVERY[0]} to {AUDIT_CHECKPOINT_EVERY[1]} events (P14).",
        ),
    )
    audit_checkpoint_seconds: int = field(
        default=10,
        metadata=_spec(
            "... and at most this many seconds after it sequenced an event: the longest an unsigned tail of the "
            "audit chain exists, the window in which someone with database access could cut it unnoticed (P14).",
            low=AUDIT_CHECKPOINT_SECONDS[0],
            high=AUDIT_CHECKPOINT_SECONDS[1],
            fix=f"is {{value}}; use {AUDIT_CHECKPOINT_SECONDS[0]} to {AUDIT_CHECKPOINT_SECONDS[1]} seconds (P14).",
        ),
    )
    audit_checkpoint_retention_days: int = field(
        default=400,
        metadata=_spec(
            "Object Lock retention of each signed checkpoint in the checkpoint bucket (COMPLIANCE in `prod`, "
            "GOVERNANCE elsewhere); objects are never expired after it (P14).",
            allowed=f"up to {MAX_AUDIT_CHECKPOINT_RETENTION_DAYS}, and >= `backup_retention_days` and "
            "`pitr_retention_days`",
        ),
    )
    guardduty: AccountServiceMode = field(default="off", metadata=_ACCOUNT_SERVICE)
    securityhub: AccountServiceMode = field(default="off", metadata=_ACCOUNT_SERVICE)
    alarm_email: str | None = field(default=None, metadata=_spec("e-mail subscribed to the incident topic."))
    auditor_principal_arn: str | None = field(
        default=None,
        metadata=_spec(
            "who may assume the read-only auditor role `<app>-<env>-auditor` that `python -m runtime "
            "verify-deployed` runs as (it reads exactly what the deployed-state checks read, nothing else). Unset: "
            "no auditor role.",
            allowed="an IAM role, user or account root ARN; not of another environment's account (P1)",
        ),
    )
    # Self-hosted installs that bring their own VPC and/or keys (no lookups: everything as data).
    existing_vpc_id: str | None = field(
        default=None,
        metadata=_spec(
            "install into an existing VPC: also give `existing_{public,app,data,support}_subnet_ids` (one per zone, "
            "in zone order) and `existing_support_subnet_cidrs`. Nothing is looked up; the stacks add no routes or "
            "endpoints to it: its app subnets must reach the AWS services the tasks call (interface endpoints with "
            "private DNS, an S3 gateway endpoint, or NAT egress), listed in the network stack's output "
            "`RequiredAwsServices` (the list a new VPC gets endpoints for, `stacks/network.py`).",
            allowed="vpc-...",
        ),
    )
    existing_public_subnet_ids: tuple[str, ...] = field(default=(), metadata=_spec(_SUBNETS_DOC))
    existing_app_subnet_ids: tuple[str, ...] = field(default=(), metadata=_spec(_SUBNETS_DOC))
    existing_data_subnet_ids: tuple[str, ...] = field(default=(), metadata=_spec(_SUBNETS_DOC))
    existing_support_subnet_ids: tuple[str, ...] = field(default=(), metadata=_spec(_SUBNETS_DOC))
    existing_support_subnet_cidrs: tuple[str, ...] = field(
        default=(),
        metadata=_spec("with `existing_vpc_id`: the support subnets' CIDRs, one per zone (the P4 rules name them)."),
    )
    existing_key_arns: tuple[str, ...] = field(  # "purpose=arn" pairs, e.g. "database=arn:aws:kms:..."
        default=(),
        metadata=_spec(
            'bring your own KMS key per purpose, as `"purpose=arn"`. Its key policy is then yours to keep.',
            allowed=f"purposes: {', '.join(KEY_PURPOSES)}",
        ),
    )

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

    source: str = field(metadata=_spec("the config file's path.", settable=False))
    app_name: str = field(
        default="adp",
        metadata=_spec(
            "top level, before any table: the installation's name, the first part of every stack, resource and "
            "bucket name (two installs in one account need different names).",
            pattern=_NAME,
            allowed="2-16 lowercase letters/digits, starting with a letter",
            fix='app_name={value!r} must be 2-16 lowercase letters/digits, e.g. "adp".',
        ),
    )
    environments: tuple[EnvironmentConfig, ...] = field(default=(), metadata=_spec("", settable=False))

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


# ---------------------------------------------------------------------------------------------------------------
# Loading: TOML values onto the fields, generically.

_HINTS: dict[str, Any] = get_type_hints(EnvironmentConfig)
_FIELDS: dict[str, Field[Any]] = {f.name: f for f in fields(EnvironmentConfig)}
SETTABLE: tuple[str, ...] = tuple(sorted(name for name, f in _FIELDS.items() if spec_of(f).settable))
# Fields without a default (besides the table's name): every environment must set them.
REQUIRED: tuple[str, ...] = tuple(
    name for name, f in _FIELDS.items() if f.default is MISSING and f.default_factory is MISSING and name != "name"
)
_NONE_WORDS = ("", "none", "null")

Fail = Callable[[str, str], ConfigError]


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> PlatformConfig:
    """Read `path`, apply `overrides` (`{"<env>.<field>": value}` from CDK context), validate."""
    path = Path(path)
    source = str(path)
    raw = _read_toml(path, source)
    app_name, merged = _tables(source, raw)
    _apply_overrides(source, merged, overrides or {})
    environments = tuple(_environment(source, name, values, path.parent) for name, values in merged.items())
    _check_across(source, environments)
    return PlatformConfig(source=source, app_name=app_name, environments=environments)


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found. Pass an existing file with -c config=PATH.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}). Fix the syntax at that position.") from None


def _tables(source: str, raw: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The app name, and each environment's table merged over [defaults]."""
    unknown_top = set(raw) - {"app_name", "defaults", "environments"}
    if unknown_top:
        raise ConfigError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(unknown_top))}. "
            "Allowed: app_name, [defaults], [environments.<name>]."
        )
    app_field = next(f for f in fields(PlatformConfig) if f.name == "app_name")
    app_name = raw.get("app_name", app_field.default)
    if not isinstance(app_name, str) or not _NAME.fullmatch(app_name):
        raise ConfigError(f"{source}: {spec_of(app_field).fix.format(value=app_name)}")
    defaults = raw.get("defaults", {})
    envs = raw.get("environments", {})
    if not isinstance(envs, dict) or not envs:
        raise ConfigError(f"{source}: no environments. Add at least one [environments.<name>] table.")
    _check_keys(source, "defaults", defaults)
    merged: dict[str, dict[str, Any]] = {}
    for name, table in envs.items():
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{source}: environment name {name!r} must be 2-16 lowercase letters/digits starting with a letter."
            )
        _check_keys(source, f"environments.{name}", table)
        merged[name] = {**defaults, **table}
    return app_name, merged


def _check_keys(source: str, where: str, table: Any) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{where}] must be a table of field = value lines.")
    unknown = set(table) - set(SETTABLE)
    if unknown:
        raise ConfigError(
            f"{source}: [{where}] has unknown field(s) {', '.join(sorted(unknown))}. "
            f"Valid fields: {', '.join(SETTABLE)}."
        )


def _apply_overrides(source: str, merged: dict[str, dict[str, Any]], overrides: Mapping[str, Any]) -> None:
    """`-c <env>.<field>=value`. A key naming a field of an environment that is not in the file is refused
    (a typo would otherwise deploy without the override); keys that name no field are other tools' context."""
    for key, value in overrides.items():
        env_name, dot, field_name = key.partition(".")
        if env_name not in merged:
            if dot and _NAME.fullmatch(env_name) and field_name in SETTABLE:
                raise ConfigError(
                    f"context override {key!r}: {source} has no environment {env_name!r}. "
                    f"Valid environments: {', '.join(merged)}. Use -c <environment>.{field_name}=VALUE."
                )
            continue  # not ours: a CDK feature flag or another tool's context key
        if field_name not in SETTABLE:
            raise ConfigError(
                f"context override {key!r}: {field_name!r} is not a field. Valid fields: {', '.join(SETTABLE)}."
            )
        merged[env_name][field_name] = _coerce(f"context override {key!r}", field_name, value)


def _shape(hint: Any) -> tuple[Any, bool]:
    """(the annotation without None, whether None is allowed); a Literal counts as str."""
    optional = False
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        optional = True
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) is Literal:
        return str, optional
    return (tuple if get_origin(hint) is tuple else hint), optional


def _coerce(where: str, field_name: str, value: Any) -> Any:
    """Context values from `-c` arrive as strings; turn them into the field's type."""
    if not isinstance(value, str):
        return value
    kind, optional = _shape(_HINTS[field_name])
    if optional and value.lower() in _NONE_WORDS:
        return None
    if kind is bool:
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where}: expected true or false, got {value!r}.")
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {value!r}.") from None
    if kind is tuple:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


_EXPECTED: dict[Any, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    tuple: (lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v), "a list of strings"),
    str: (lambda v: isinstance(v, str), "a string (in quotes)"),
}


def _check_type(fail: Fail, key: str, value: Any) -> None:
    kind, optional = _shape(_HINTS[key])
    accepts, expected = _EXPECTED[kind]
    if not (accepts(value) or (value is None and optional)):
        raise fail(key, f"{value!r} has the wrong type; expected {expected}.")


def _failer(source: str, name: str) -> Fail:
    def fail(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: environments.{name}.{field_name}: {problem}")

    return fail


def _environment(source: str, name: str, values: dict[str, Any], folder: Path) -> EnvironmentConfig:
    """One environment's merged values as a validated EnvironmentConfig."""
    fail = _failer(source, name)
    for required in REQUIRED:
        if required not in values:
            raise fail(required, "is missing. Set it in [defaults] or in this environment's table.")
    values = _former_values(values)
    for key, value in values.items():
        _check_type(fail, key, value)
    env = EnvironmentConfig(name=name, **_typed(values))
    for f in fields(env):
        _check_field(fail, f, getattr(env, f.name))
    for rule in RULES:
        rule(env, fail)
    return _completed(env, fail, folder)


def _former_values(values: dict[str, Any]) -> dict[str, Any]:
    """Values an earlier version accepted: true / false for guardduty and securityhub."""
    former = {key: "create" if values[key] else "off" for key in ACCOUNT_SERVICES if isinstance(values.get(key), bool)}
    return {**values, **former}


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """Lists as tuples; az_count defaults to the number of zones listed."""
    typed = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
    if "az_count" not in typed and typed.get("availability_zones"):
        typed["az_count"] = len(typed["availability_zones"])
    return typed


def _check_field(fail: Fail, f: Field[Any], value: Any) -> None:
    """A field's own checks from its FieldSpec: required, pattern, range, choices (its Literal's too)."""
    spec = spec_of(f)
    if value is None or value == "" or value == ():
        if spec.missing:
            raise fail(f.name, spec.missing)
        return
    choices = spec.choices or (get_args(_HINTS[f.name]) if get_origin(_HINTS[f.name]) is Literal else ())
    if (
        (spec.pattern is not None and not spec.pattern.fullmatch(value))
        or (spec.low is not None and value < spec.low)
        or (spec.high is not None and value > spec.high)
        or (choices and value not in choices)
    ):
        raise fail(f.name, spec.fix.format(value=value))


def _completed(env: EnvironmentConfig, fail: Fail, folder: Path) -> EnvironmentConfig:
    """The derived values: zones named after the region when none are listed, the IdPs' JWKS files read."""
    zones = env.availability_zones or tuple(f"{env.region}{letter}" for letter in "abcdef"[: env.az_count])
    return replace(
        env,
        availability_zones=zones,
        jwt_jwks=_identity_keys(env, fail, folder, "jwt_"),
        support_jwt_jwks="" if env.support_alb_oidc else _identity_keys(env, fail, folder, "support_jwt_"),
    )


# ---------------------------------------------------------------------------------------------------------------
# Rules that relate fields, on the typed object: one function per rule, run in RULES order.


def _network_of(cidr: str, fail: Fail) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise fail("vpc_cidr", f'{cidr!r} is not a valid IPv4 network ({exc}). Use e.g. "10.10.0.0/16".') from None


def _check_vpc_cidr(env: EnvironmentConfig, fail: Fail) -> None:
    network = _network_of(env.vpc_cidr, fail)
    low, high = VPC_PREFIXES
    if not low <= network.prefixlen <= high or not network.is_private:
        raise fail(
            "vpc_cidr",
            f"{env.vpc_cidr!r} must be a private (RFC 1918) network between /{low} and /{high} (room for 4 tiers).",
        )


def _check_zones(env: EnvironmentConfig, fail: Fail) -> None:
    azs = env.availability_zones
    if azs and len(azs) != env.az_count:
        raise fail("availability_zones", f"lists {len(azs)} zones but az_count is {env.az_count}; make them agree.")
    for zone in azs:
        if not zone.startswith(env.region) or len(zone) != len(env.region) + 1:
            raise fail("availability_zones", f"{zone!r} is not a zone of {env.region} (expected e.g. {env.region}a).")
    if len(set(azs)) != len(azs):
        raise fail("availability_zones", "lists a zone twice; each must be distinct.")


def _check_nat(env: EnvironmentConfig, fail: Fail) -> None:
    if not 0 <= env.nat_gateways <= env.az_count:
        raise fail(
            "nat_gateways", f"is {env.nat_gateways}; use 0 (no internet egress) up to az_count ({env.az_count})."
        )


def _check_production(env: EnvironmentConfig, fail: Fail) -> None:
    """P9: production keeps its database and load balancers, a week of backups, and locks the vault."""
    if not env.is_production:
        return
    if not env.deletion_protection:
        raise fail("deletion_protection", "is false; production must keep deletion protection on. Set it to true.")
    if env.backup_retention_days < MIN_PROD_BACKUP_RETENTION_DAYS:
        raise fail(
            "backup_retention_days",
            f"is {env.backup_retention_days}; production keeps daily backups at least "
            f"{MIN_PROD_BACKUP_RETENTION_DAYS} days (P9). Set 7 or more.",
        )
    if env.vault_lock_min_retention_days is None:
        raise fail(
            "vault_lock_min_retention_days",
            "is missing; production backups need a vault lock so nobody can shorten or delete them (P9). Set e.g. 7.",
        )
    if env.keyring_mode != "per-organisation":
        raise fail(
            "keyring_mode",
            f"is {env.keyring_mode!r}; production wraps each organisation's data keys under its own key, so erasure "
            "reaches every backup (P10). Set \"per-organisation\" (or remove the field).",
        )


def _check_backups(env: EnvironmentConfig, fail: Fail) -> None:
    backup_days, pitr_days, lock_days = (
        env.backup_retention_days,
        env.pitr_retention_days,
        env.vault_lock_min_retention_days,
    )
    if lock_days is not None and not 1 <= lock_days <= min(backup_days, pitr_days):
        raise fail(
            "vault_lock_min_retention_days",
            f"is {lock_days}; it must be at least 1 and no longer than both backup_retention_days ({backup_days}) "
            f"and pitr_retention_days ({pitr_days}), or AWS Backup rejects the shorter backups.",
        )
    retention = env.audit_checkpoint_retention_days
    if not env.longest_backup_retention_days <= retention <= MAX_AUDIT_CHECKPOINT_RETENTION_DAYS:
        raise fail(
            "audit_checkpoint_retention_days",
            f"is {retention}; a restored backup's audit ledger must stay verifiable, so checkpoints are kept at "
            f"least as long as backups ({env.longest_backup_retention_days} days) and at most "
            f"{MAX_AUDIT_CHECKPOINT_RETENTION_DAYS} (S3 Object Lock's limit, P14).",
        )
    copy_region = env.backup_copy_region
    if copy_region is not None and (not _REGION.fullmatch(copy_region) or copy_region == env.region):
        raise fail(
            "backup_copy_region", f"{copy_region!r} must be another AWS region than {env.region}, or be omitted."
        )


def _arn_check(fail: Fail, field_name: str, value: Any, service: str, resource: str, region: str, account: str) -> None:
    """P1: an ARN in an environment's config must belong to that environment's account (and region)."""
    pattern = rf"^arn:aws[a-z-]*:{service}:{region if region else ''}:{account}:{resource}.+$"
    if not isinstance(value, str) or not re.match(pattern, value):
        where = f"{region}, " if region else ""
        raise fail(
            field_name,
            f"{value!r} is not a {service} {resource.rstrip('/:')} ARN of this environment ({where}account {account}). "
            "Each environment uses only its own resources (P1).",
        )


def _check_certificates(env: EnvironmentConfig, fail: Fail) -> None:
    """P5, P1: the load balancers' TLS certificates are ACM certificates of this account and region."""
    for key in ("certificate_arn", "support_certificate_arn"):
        if getattr(env, key):
            _arn_check(fail, key, getattr(env, key), "acm", "certificate/", env.region, env.account)


def _check_scaling(env: EnvironmentConfig, fail: Fail) -> None:
    low, high = env.service_min_tasks, env.service_max_tasks
    minimum = 2 if env.is_production else 1
    if not minimum <= low <= high <= MAX_TASKS:
        raise fail(
            "service_min_tasks",
            f"is {low} with service_max_tasks {high}; need {minimum} <= min <= max <= {MAX_TASKS} "
            f"({'two tasks keep prod up across a zone failure' if env.is_production else 'at least one task'}).",
        )


USER_OIDC = tuple(f"oidc_{f.name}" for f in fields(OidcClient))
SUPPORT_OIDC = tuple(f"support_oidc_{f.name}" for f in fields(OidcClient))


def _check_user_sign_in(env: EnvironmentConfig, fail: Fail) -> None:
    """Load balancer OIDC for users: all of its fields or none, https:// endpoints (P5)."""
    given = [key for key in USER_OIDC if getattr(env, key)]
    if given and len(given) != len(USER_OIDC):
        missing = sorted(set(USER_OIDC) - set(given))
        raise fail(missing[0], f"is missing; load balancer OIDC needs all of {', '.join(USER_OIDC)} or none of them.")
    for key in USER_OIDC[:4]:
        if getattr(env, key) and not str(getattr(env, key)).startswith(_HTTPS):
            raise fail(key, f"{getattr(env, key)!r} must be an https:// URL (P5).")


def _check_vpn(env: EnvironmentConfig, fail: Fail) -> None:
    """P4: the support VPN: its certificate, exactly one authentication, a client range beside the VPC's."""
    region, account = env.region, env.account
    _arn_check(
        fail, "vpn_server_certificate_arn", env.vpn_server_certificate_arn, "acm", "certificate/", region, account
    )
    mutual, saml = env.vpn_client_root_certificate_arn, env.vpn_saml_provider_arn
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
        if not env.vpn_support_group_id:
            raise fail("vpn_support_group_id", "is missing; with SAML, only the support group is authorized (P4).")
    cidr = env.vpn_client_cidr
    try:
        clients = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise fail("vpn_client_cidr", f"{cidr!r} is not a valid IPv4 network ({exc}).") from None
    low, high = VPN_CLIENT_PREFIXES
    network = ipaddress.IPv4Network(env.vpc_cidr)
    if not low <= clients.prefixlen <= high or clients.overlaps(network):
        raise fail(
            "vpn_client_cidr",
            f"{cidr!r} must be /{low} to /{high} and must not overlap vpc_cidr ({network}) (AWS Client VPN).",
        )


_EXISTING_NETWORK = tuple(
    name for name in _FIELDS if name.startswith("existing_") and name not in ("existing_vpc_id", "existing_key_arns")
)


def _check_existing_vpc(env: EnvironmentConfig, fail: Fail) -> None:
    """An existing VPC comes with its subnets, one per zone per tier, and the support subnets' CIDRs."""
    if not env.existing_vpc_id:
        for key in [k for k in _EXISTING_NETWORK if getattr(env, k)]:
            raise fail(key, "is set but existing_vpc_id is not; give the VPC id too, or remove the existing_* fields.")
        return
    if not re.match(r"^vpc-[0-9a-f]{8,17}$", env.existing_vpc_id):
        raise fail("existing_vpc_id", f"{env.existing_vpc_id!r} is not a VPC id (vpc-...).")
    for tier in ("public", "app", "data", "support"):
        key = f"existing_{tier}_subnet_ids"
        ids = getattr(env, key)
        if len(ids) != env.az_count or not all(re.match(r"^subnet-[0-9a-f]{8,17}$", i) for i in ids):
            raise fail(
                key, f"must list {env.az_count} subnet ids (subnet-...), one per availability zone, in zone order."
            )
    if len(env.existing_support_subnet_cidrs) != env.az_count:
        raise fail("existing_support_subnet_cidrs", f"must list the {env.az_count} support subnets' CIDRs (P4 rules).")


def _check_existing_keys(env: EnvironmentConfig, fail: Fail) -> None:
    for pair in env.existing_key_arns:
        purpose, _, arn = pair.partition("=")
        if purpose not in KEY_PURPOSES:
            raise fail(
                "existing_key_arns", f"{pair!r}: purpose must be one of {', '.join(KEY_PURPOSES)} (purpose=arn)."
            )
        _arn_check(fail, "existing_key_arns", arn, "kms", "key/", env.region, env.account)


def _https_url(value: Any) -> bool:
    return isinstance(value, str) and _HTTPS_URL.fullmatch(value) is not None


def _same_issuer(first: Any, second: Any) -> bool:
    return str(first or "").rstrip("/") == str(second or "").rstrip("/")


def _check_user_identity(env: EnvironmentConfig, fail: Fail) -> None:
    """P3: the users' IdP: an https:// issuer, an audience, exactly one key source."""
    _check_identity_provider(env, fail, "jwt_")


def _check_identity_provider(env: EnvironmentConfig, fail: Fail, prefix: str) -> None:
    """An IdP's issuer, audience and public keys (`<prefix>issuer`, ...): a service verifies bearer tokens with
    them. The JWKS file itself is read (and checked) by `_identity_keys`."""
    issuer, audience, jwks_url, jwks_file = (
        getattr(env, f"{prefix}{k}") for k in ("issuer", "audience", "jwks_url", "jwks_file")
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
    if jwks_url and not _https_url(jwks_url):
        raise fail(
            f"{prefix}jwks_url",
            f"{jwks_url!r} must be an https:// URL (P5): the tasks fetch the IdP's keys over TLS only.",
        )


_SUPPORT_JWT = ("support_jwt_issuer", "support_jwt_audience", "support_jwt_jwks_url", "support_jwt_jwks_file")
_STAFF_CHOICE = (
    "set support_jwt_issuer, support_jwt_audience and support_jwt_jwks_url (or support_jwt_jwks_file) for "
    f"staff bearer tokens, or all of {', '.join(SUPPORT_OIDC)} for sign-in at the support load balancer"
)


def _check_staff_identity(env: EnvironmentConfig, fail: Fail) -> None:
    """P4: support staff have an identity of their own: exactly one of staff bearer tokens or staff sign-in."""
    bearer = [key for key in _SUPPORT_JWT if getattr(env, key)]
    oidc = [key for key in SUPPORT_OIDC if getattr(env, key)]
    if not bearer and not oidc:
        raise fail(
            "support_jwt_issuer",
            f"is missing; support staff need an identity of their own, never the users' (P4): {_STAFF_CHOICE}.",
        )
    if bearer and oidc:
        raise fail(bearer[0], f"and {oidc[0]} are both set; choose one staff identity: {_STAFF_CHOICE}.")
    if not oidc:
        _check_identity_provider(env, fail, "support_jwt_")
        return
    if len(oidc) != len(SUPPORT_OIDC):
        missing = [key for key in SUPPORT_OIDC if key not in oidc]
        raise fail(
            missing[0],
            f"is missing; support load balancer OIDC needs all of {', '.join(SUPPORT_OIDC)} or none of them.",
        )
    for key in SUPPORT_OIDC[:4]:
        if not _https_url(getattr(env, key)):
            raise fail(key, f"{getattr(env, key)!r} must be an https:// URL (P5).")


def _check_staff_not_users(env: EnvironmentConfig, fail: Fail) -> None:
    """P4: no customer's token or sign-in satisfies the staff identity (same issuer AND same audience)."""
    staff = (
        ("support_oidc_issuer", "support_oidc_client_id")
        if env.support_alb_oidc
        else ("support_jwt_issuer", "support_jwt_audience")
    )
    users = [("jwt_issuer", "jwt_audience")] + ([("oidc_issuer", "oidc_client_id")] if env.oidc_issuer else [])
    for issuer, audience in users:
        if _same_issuer(getattr(env, staff[0]), getattr(env, issuer)) and getattr(env, staff[1]) == getattr(
            env, audience
        ):
            raise fail(
                staff[1],
                f"{staff[0]} and {staff[1]} equal the users' {issuer} and {audience}: any customer's token "
                "(or sign-in) would open the support API (P4). Give support staff their own issuer or audience "
                "(client id), e.g. a separate application at the staff IdP.",
            )


_AUDITOR = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(root|role/.+|user/.+)$")


def _check_auditor(env: EnvironmentConfig, fail: Fail) -> None:
    """The auditor's principal: an IAM role, user or account root."""
    if env.auditor_principal_arn is not None and not _AUDITOR.match(env.auditor_principal_arn):
        raise fail("auditor_principal_arn", f"{env.auditor_principal_arn!r} is not an IAM role, user or account root "
                   "ARN (arn:aws:iam::123456789012:role/auditor).")


RULES: tuple[Callable[[EnvironmentConfig, Fail], None], ...] = (
    _check_vpc_cidr,
    _check_zones,
    _check_nat,
    _check_production,
    _check_backups,
    _check_certificates,
    _check_scaling,
    _check_user_sign_in,
    _check_vpn,
    _check_existing_vpc,
    _check_existing_keys,
    _check_user_identity,
    _check_staff_identity,
    _check_staff_not_users,
    _check_auditor,
)


def _identity_keys(env: EnvironmentConfig, fail: Fail, folder: Path, prefix: str) -> str:
    """The JWKS file's content (compact JSON, public keys only), or "" when the keys come from a URL."""
    jwks_file = getattr(env, f"{prefix}jwks_file")
    if not jwks_file:
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
    accounts = {e.account: e.name for e in environments}
    for env in environments:
        match = _AUDITOR.match(env.auditor_principal_arn or "")
        other = accounts.get(match.group(1), env.name) if match else env.name
        if match and other != env.name and match.group(1) != env.account:
            raise ConfigError(
                f"{source}: environments.{env.name}.auditor_principal_arn is of environment {other}'s account "
                f"({match.group(1)}): no IAM trust crosses environments (P1). Name the auditor's own principal (in "
                "this account or an audit account of its own)."
            )


# ---------------------------------------------------------------------------------------------------------------
# config/README.md's field table, generated from the fields' metadata (`python -m stacks.config`).

README = Path(__file__).resolve().parent.parent / "config" / "README.md"
TABLE_BEGIN = "<!-- field table: generated from stacks/config.py by `python -m stacks.config`; do not edit -->"
TABLE_END = "<!-- end of the field table -->"


def _shown_default(f: Field[Any]) -> str:
    spec = spec_of(f)
    if spec.shown is not None:
        return spec.shown
    if f.default is MISSING or spec.missing:
        return "(required)"
    value = f.default
    if value is None or value == "" or value == ():
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`" if isinstance(value, str) else str(value)


def _allowed(f: Field[Any]) -> str:
    spec = spec_of(f)
    hint = _HINTS.get(f.name)
    choices = spec.choices or (get_args(hint) if get_origin(hint) is Literal else ())
    if spec.allowed is not None:
        return spec.allowed
    if choices:
        return ", ".join(f'`"{c}"`' if isinstance(c, str) else str(c) for c in choices)
    if spec.low is not None and spec.high is not None:
        return f"{spec.low} to {spec.high}"
    if spec.low is not None:
        return f">= {spec.low}"
    return ""


def field_rows() -> list[tuple[str, str, str, str]]:
    """(fields, default, allowed, meaning) per row: `app_name`, then every settable environment field in
    declaration order; neighbouring fields with one meaning share a row."""
    documented = [f for f in fields(PlatformConfig) if spec_of(f).settable] + [
        f for f in fields(EnvironmentConfig) if spec_of(f).settable
    ]
    groups: list[list[Field[Any]]] = []
    for f in documented:
        if groups and spec_of(groups[-1][0]).doc == spec_of(f).doc:
            groups[-1].append(f)
        else:
            groups.append([f])
    rows = []
    for group in groups:
        defaults = list(dict.fromkeys(_shown_default(f) for f in group))
        allowed = list(dict.fromkeys(a for a in map(_allowed, group) if a))
        rows.append(
            (
                ", ".join(f"`{f.name}`" for f in group),
                ", ".join(defaults),
                "; ".join(allowed),
                spec_of(group[0]).doc,
            )
        )
    return rows


def field_table() -> str:
    lines = [TABLE_BEGIN, "| field | default | allowed | meaning |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in field_rows()]
    return "\n".join([*lines, TABLE_END])


def readme_with_table(text: str) -> str:
    """`text` (config/README.md) with its field table replaced by the generated one."""
    before, begin, rest = text.partition(TABLE_BEGIN)
    _, end, after = rest.partition(TABLE_END)
    if not begin or not end:
        raise ConfigError(f"{README}: the field table's markers are missing ({TABLE_BEGIN!r} ... {TABLE_END!r}).")
    return before + field_table() + after


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{README}: field table written from stacks/config.py", file=sys.stderr)
