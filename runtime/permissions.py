"""The permission contract: the AWS calls each runtime command makes, and the IAM permissions they need.

One entry per command (`python -m runtime <command>`, and `serve` once per service mode). Each `Use` is one
boto3 client method the command calls, the permissions that call needs (its own action, plus what the call
needs on another resource: SSE-KMS on the exports key, the key of a secret, the key of an encrypted topic)
and WHEN the command calls it, in terms of the task's settings (runtime/settings.py): a deployed task's
environment decides, e.g. IAM database authentication on means `rds-db:connect`, off means the password
secret. Each permission names the kind of resource it touches ("master secret", "exports bucket", ...), so
the platform pack's rule (stacks/policy/rules/p3_task_permissions.py) can also check WHICH secret a role
may read. tests/runtime/test_permissions.py fails when the runtime calls a client method this contract does
not declare, or this contract declares one the runtime no longer calls.

A task declares the commands it runs in PLATFORM_TASK_COMMANDS (settings.TASK_COMMANDS): comma-separated
command names as in `CONTRACT`. When it is set, `python -m runtime` refuses any other command
(`undeclared_command`), so the declaration the rule reads is true by construction.

Pure: no boto3, no CDK; the stacks and the rule import it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from runtime import settings
from runtime.contract import ServiceMode
from runtime.restore import RESTORE_IAM_ACTIONS

# --- The resources a permission touches (the rule matches "master secret" to the cluster's secret) ---
APPLICATION_KEY: Final = "application key"  # KMS key wrapping the per-owner data keys (P6)
DATABASE_USER: Final = "database user"  # rds-db:connect as the task's PLATFORM_DATABASE_USER
MIGRATION_OWNER: Final = "migration owner"  # rds-db:connect as platform_owner (schema owner)
# rds-db:connect as the drill role (creates, migrates and drops the scratch database) and the jobs role (works in
# it): runtime.contract DRILL_ROLE, JOBS_ROLE. Never the migration owner (it owns the live tables).
DRILL_ROLES: Final = "drill database users"
# PLATFORM_DATABASE_PASSWORD_SECRET_ID, read when IAM authentication is off
PASSWORD_SECRET: Final = "database password secret"  # noqa: S105 (a name)
PASSWORD_SECRET_KEY: Final = "database password secret's key"  # noqa: S105 (a name)
# The RDS master user's secret: rds_superuser, which bypasses RLS (P3); and its key (the database key, through
# Secrets Manager).
MASTER_SECRET: Final = "master secret"  # noqa: S105 (a name)
MASTER_SECRET_KEY: Final = "master secret's key"  # noqa: S105 (a name)
AUDIT_CHAIN_KEY_SECRET: Final = "audit chain key secret"  # noqa: S105 (a name)
AUDIT_CHAIN_KEY_SECRET_KEY: Final = "audit chain key secret's key"  # noqa: S105 (a name)
EXPORTS_BUCKET: Final = "exports bucket"
EXPORTS_KEY: Final = "exports key"  # SSE-KMS of the export objects, through S3
INCIDENT_TOPIC: Final = "incident topic"
INCIDENT_TOPIC_KEY: Final = "incident topic's key"  # the encrypted topic's key, through SNS
SENDER_IDENTITY: Final = "breach sender identity"  # the verified SES identity
DATABASE_CLUSTER: Final = "database cluster"  # the source cluster and the clusters a restore creates
DATABASE_KEY: Final = "database key"  # RDS takes a grant on it for a restored cluster
# This environment's per-organisation keys (PLATFORM_APP_NAME set): tagged platform:environment, platform:app and
# platform:organisation, aliased alias/<app>-<env>-org-<id> (runtime/envelope/keyrings/organisation.py).
ORGANISATION_KEYS: Final = "organisation keys"
# Organisations' own keys (BYOK, runtime/envelope/keyrings/customer.py): in their accounts, this region; used with
# this environment's encryption context only.
CUSTOMER_KEYS: Final = "customer keys"
# The environment's asymmetric key that signs erasure receipts (PLATFORM_RECEIPT_SIGNING_KEY_ID, P10): the job signs,
# the job and the data service read its public key.
RECEIPT_SIGNING_KEY: Final = "receipt signing key"
# The audit trail's signed checkpoints (P14): the asymmetric key the sequencer signs them with
# (PLATFORM_AUDIT_SIGNING_KEY_ID), the Object Lock bucket they are kept in (PLATFORM_AUDIT_CHECKPOINT_BUCKET) and
# that bucket's default KMS key (SSE-KMS, through S3).
AUDIT_SIGNING_KEY: Final = "audit signing key"
CHECKPOINT_BUCKET: Final = "audit checkpoint bucket"
CHECKPOINT_BUCKET_KEY: Final = "audit checkpoint bucket's key"
# The old receipt MAC key's secret, read by `erase verify-receipt --hmac-key-secret-id` only; and its key.
RECEIPT_MAC_SECRET: Final = "receipt MAC key secret"  # noqa: S105 (a name)
RECEIPT_MAC_SECRET_KEY: Final = "receipt MAC key secret's key"  # noqa: S105 (a name)

# The secretsmanager action only a setup-like command may hold on the master secret.
READ_SECRET: Final = "secretsmanager:GetSecretValue"  # noqa: S105 (a name)


@dataclass(frozen=True)
class Permission:
    action: str  # an IAM action, e.g. "kms:GenerateDataKey"
    resource: str  # one of the kinds above


@dataclass(frozen=True)
class When:
    """A condition on the task's settings. `values=None`: the variable is set and not blank; otherwise its
    value, lower-cased ("" when unset), is one of `values`. `option`: a command-line option only the caller
    can give (the rule cannot see it, so a task is never required to grant what only it needs)."""

    variable: str = ""
    values: frozenset[str] | None = None
    option: str = ""

    def holds(self, environ: Mapping[str, str | None]) -> bool:
        """`environ`: the task's variables; None is a value the template computes (set, value unknown:
        assumed to hold, so the rule errs on the side of requiring the grant)."""
        if self.option:
            return False
        if self.variable not in environ:
            return self.values is not None and "" in self.values
        value = environ[self.variable]
        if value is None:
            return True
        if self.values is None:
            return bool(value.strip())
        return value.strip().lower() in self.values


@dataclass(frozen=True)
class Use:
    """One boto3 client method a command calls, what the call needs, and when the command calls it."""

    service: str  # the boto3 client name: "kms", "sesv2"
    method: str  # the client method: "generate_data_key"
    permissions: tuple[Permission, ...]
    when: tuple[When, ...] = ()

    def needed(self, environ: Mapping[str, str | None]) -> bool:
        return all(condition.holds(environ) for condition in self.when)


def _p(resource: str, *actions: str) -> tuple[Permission, ...]:
    return tuple(Permission(action, resource) for action in actions)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
IAM_AUTH = When(settings.DATABASE_IAM_AUTH, _TRUE)
KMS_KEY = When(settings.KMS_APPLICATION_KEY_ID)
SES_NOTIFIER = (When(settings.BREACH_SENDER), When(settings.BREACH_NOTIFIER, frozenset({"", "ses"})))
TOPIC = When(settings.INCIDENT_TOPIC_ARN)
EXPORT_BUCKET_SET = When(settings.EXPORTS_BUCKET)
ORG_KEYS = When(settings.APP_NAME)
RECEIPT_KMS_KEY = When(settings.RECEIPT_SIGNING_KEY_ID)
AUDIT_KMS_KEY = When(settings.AUDIT_SIGNING_KEY_ID)
CHECKPOINT_BUCKET_SET = When(settings.AUDIT_CHECKPOINT_BUCKET)


# --- Building blocks: how a command logs in to the database, unwraps data keys, writes exports ---
def _login(user: str) -> tuple[Use, ...]:
    """IAM token per connection when DATABASE_IAM_AUTH is on, else the password secret (if one is set)."""
    return (
        Use("rds", "generate_db_auth_token", _p(user, "rds-db:connect"), (IAM_AUTH,)),
        Use("secretsmanager", "get_secret_value",
            _p(PASSWORD_SECRET, READ_SECRET) + _p(PASSWORD_SECRET_KEY, "kms:Decrypt"),
            (When(settings.DATABASE_IAM_AUTH, _FALSE), When(settings.DATABASE_PASSWORD_SECRET_ID))),
    )


LOGIN: Final = _login(DATABASE_USER)
# Data keys under the shared application key, or (PLATFORM_APP_NAME set) under each organisation's own key, with
# the organisation's encryption context (the key policy conditions on kms:EncryptionContext:organisation).
NEW_DATA_KEYS: Final = (
    Use("kms", "generate_data_key", _p(APPLICATION_KEY, "kms:GenerateDataKey"), (KMS_KEY,)),
    Use("kms", "generate_data_key", _p(ORGANISATION_KEYS, "kms:GenerateDataKey") + _p(CUSTOMER_KEYS,
        "kms:GenerateDataKey"), (ORG_KEYS,)),
)
UNWRAP_DATA_KEYS: Final = (
    Use("kms", "decrypt", _p(APPLICATION_KEY, "kms:Decrypt"), (KMS_KEY,)),
    Use("kms", "decrypt", _p(ORGANISATION_KEYS, "kms:Decrypt") + _p(CUSTOMER_KEYS, "kms:Decrypt"), (ORG_KEYS,)),
)
# The control plane of organisation keys (`org ...`, and erasure's key deletion): by alias, then by key id.
ORG_KEY_STATE: Final = (Use("kms", "describe_key", _p(ORGANISATION_KEYS, "kms:DescribeKey") + _p(CUSTOMER_KEYS,
                                                                                               "kms:DescribeKey"),
                               (ORG_KEYS,)),)
# `org register-key` checks an organisation's own key: its state and rotation, and a data-key round trip.
CUSTOMER_KEY_CHECK: Final = (
    *ORG_KEY_STATE,
    Use("kms", "get_key_rotation_status", _p(CUSTOMER_KEYS, "kms:GetKeyRotationStatus"), (ORG_KEYS,)),
    *NEW_DATA_KEYS,
    *UNWRAP_DATA_KEYS,
)
# The data service checks an admin's own key (PUT /v1/organisation/key) as its role: the same calls on customer
# keys (the round trip is NEW_DATA_KEYS + UNWRAP_DATA_KEYS), when the task names the runtime roles.
_CUSTOMER_KEYS_NAMED = (ORG_KEYS, When(settings.ORGANISATION_KEY_USER_ROLE_ARNS))
CUSTOMER_KEY_READ: Final = (
    Use("kms", "describe_key", _p(CUSTOMER_KEYS, "kms:DescribeKey"), _CUSTOMER_KEYS_NAMED),
    Use("kms", "get_key_rotation_status", _p(CUSTOMER_KEYS, "kms:GetKeyRotationStatus"), _CUSTOMER_KEYS_NAMED),
)
ORG_KEY_PROVISION: Final = (
    *ORG_KEY_STATE,
    Use("kms", "create_key", _p(ORGANISATION_KEYS, "kms:CreateKey", "kms:TagResource"), (ORG_KEYS,)),
    Use("kms", "enable_key_rotation", _p(ORGANISATION_KEYS, "kms:EnableKeyRotation"), (ORG_KEYS,)),
    Use("kms", "create_alias", _p(ORGANISATION_KEYS, "kms:CreateAlias"), (ORG_KEYS,)),
)
ORG_KEY_DELETE: Final = (
    *ORG_KEY_STATE,
    Use("kms", "schedule_key_deletion", _p(ORGANISATION_KEYS, "kms:ScheduleKeyDeletion"), (ORG_KEYS,)),
)
ORG_KEY_CANCEL: Final = (
    *ORG_KEY_STATE,
    Use("kms", "cancel_key_deletion", _p(ORGANISATION_KEYS, "kms:CancelKeyDeletion"), (ORG_KEYS,)),
    Use("kms", "enable_key", _p(ORGANISATION_KEYS, "kms:EnableKey"), (ORG_KEYS,)),
)
MASTER_CREDENTIALS: Final = (
    Use("secretsmanager", "get_secret_value",
        _p(MASTER_SECRET, READ_SECRET) + _p(MASTER_SECRET_KEY, "kms:Decrypt")),
)
_S3_WRITE = _p(EXPORTS_BUCKET, "s3:PutObject") + _p(EXPORTS_KEY, "kms:GenerateDataKey")
_S3_PART = _p(EXPORTS_BUCKET, "s3:PutObject") + _p(EXPORTS_KEY, "kms:Decrypt")  # multipart needs Decrypt too
_S3_READ = _p(EXPORTS_BUCKET, "s3:GetObject") + _p(EXPORTS_KEY, "kms:Decrypt")
EXPORT_WRITE: Final = (
    Use("s3", "put_object", _S3_WRITE, (EXPORT_BUCKET_SET,)),
    Use("s3", "create_multipart_upload", _S3_WRITE, (EXPORT_BUCKET_SET,)),
    Use("s3", "upload_part", _S3_PART, (EXPORT_BUCKET_SET,)),
    Use("s3", "complete_multipart_upload", _S3_PART, (EXPORT_BUCKET_SET,)),
    Use("s3", "abort_multipart_upload", _p(EXPORTS_BUCKET, "s3:AbortMultipartUpload"), (EXPORT_BUCKET_SET,)),
    # A presigned URL is signed locally; whoever follows it acts with the signer's s3:GetObject (and Decrypt).
    Use("s3", "generate_presigned_url", _S3_READ, (EXPORT_BUCKET_SET,)),
)
EXPORT_READ: Final = (
    Use("s3", "list_objects_v2", _p(EXPORTS_BUCKET, "s3:ListBucket"), (EXPORT_BUCKET_SET,)),
    Use("s3", "get_object", _S3_READ, (EXPORT_BUCKET_SET,)),
)
# The data service hands an organisation's admin download URLs of its complete export (P13): it reads the manifest
# and signs URLs that act with its own s3:GetObject and kms:Decrypt (runtime/lifecycle/downloads.py).
EXPORT_DOWNLOAD: Final = (
    Use("s3", "get_object", _S3_READ, (EXPORT_BUCKET_SET,)),
    Use("s3", "generate_presigned_url", _S3_READ, (EXPORT_BUCKET_SET,)),
)
LIST_EXPORT_VERSIONS: Final = (
    Use("s3", "list_object_versions", _p(EXPORTS_BUCKET, "s3:ListBucketVersions"), (EXPORT_BUCKET_SET,)),
)
EXPORT_DELETE: Final = (
    *LIST_EXPORT_VERSIONS,
    Use("s3", "delete_objects", _p(EXPORTS_BUCKET, "s3:DeleteObject", "s3:DeleteObjectVersion"),
        (EXPORT_BUCKET_SET,)),
)
ALERTS: Final = (
    Use("sns", "publish", _p(INCIDENT_TOPIC, "sns:Publish") + _p(INCIDENT_TOPIC_KEY, "kms:GenerateDataKey",
                                                               "kms:Decrypt"), (TOPIC,)),
)
NOTIFY: Final = (Use("sesv2", "send_email", _p(SENDER_IDENTITY, "ses:SendEmail"), SES_NOTIFIER),)
CHAIN_KEY_FROM_SECRET: Final = (
    Use("secretsmanager", "get_secret_value",
        _p(AUDIT_CHAIN_KEY_SECRET, READ_SECRET) + _p(AUDIT_CHAIN_KEY_SECRET_KEY, "kms:Decrypt"),
        (When(option="--key-secret-id"),)),
)
# Erasure receipts (runtime/lifecycle/receipt_signing.py): signed with the KMS key (a local key in local runs and
# tests: no call); its public key verifies them.
RECEIPT_PUBLIC_KEY: Final = (
    Use("kms", "get_public_key", _p(RECEIPT_SIGNING_KEY, "kms:GetPublicKey"), (RECEIPT_KMS_KEY,)),
)
RECEIPT_SIGN: Final = (
    *RECEIPT_PUBLIC_KEY,
    Use("kms", "sign", _p(RECEIPT_SIGNING_KEY, "kms:Sign"), (RECEIPT_KMS_KEY,)),
)
# `erase verify-receipt` runs wherever its user is (an owner's laptop): the key a receipt names, unless --public-key
# is given; an old receipt's MAC key from a secret only with --hmac-key-secret-id.
VERIFY_RECEIPT: Final = (
    Use("kms", "get_public_key", _p(RECEIPT_SIGNING_KEY, "kms:GetPublicKey")),
    Use("secretsmanager", "get_secret_value",
        _p(RECEIPT_MAC_SECRET, READ_SECRET) + _p(RECEIPT_MAC_SECRET_KEY, "kms:Decrypt"),
        (When(option="--hmac-key-secret-id"),)),
)
# Signed audit checkpoints (runtime/db/sequencer.py, runtime/checkpoint_bucket.py): the sequencer signs and writes
# them (and checks, at start, that the last ones are in the bucket); verifiers read the public key and the objects.
CHECKPOINT_PUBLIC_KEY: Final = (
    Use("kms", "get_public_key", _p(AUDIT_SIGNING_KEY, "kms:GetPublicKey"), (AUDIT_KMS_KEY,)),
)
CHECKPOINT_SIGN: Final = (
    *CHECKPOINT_PUBLIC_KEY,
    Use("kms", "sign", _p(AUDIT_SIGNING_KEY, "kms:Sign"), (AUDIT_KMS_KEY,)),
)
CHECKPOINT_PUBLISH: Final = (
    Use("s3", "put_object", _p(CHECKPOINT_BUCKET, "s3:PutObject") + _p(CHECKPOINT_BUCKET_KEY, "kms:GenerateDataKey"),
        (CHECKPOINT_BUCKET_SET,)),
    Use("s3", "head_object", _p(CHECKPOINT_BUCKET, "s3:GetObject"), (CHECKPOINT_BUCKET_SET,)),
)
CHECKPOINT_READ: Final = (
    Use("s3", "list_objects_v2", _p(CHECKPOINT_BUCKET, "s3:ListBucket"), (CHECKPOINT_BUCKET_SET,)),
    Use("s3", "get_object", _p(CHECKPOINT_BUCKET, "s3:GetObject") + _p(CHECKPOINT_BUCKET_KEY, "kms:Decrypt"),
        (CHECKPOINT_BUCKET_SET,)),
)
# The RDS and KMS actions below are all in runtime.restore.RESTORE_IAM_ACTIONS, what the restore role is granted
# (tests/runtime/test_permissions.py checks it): that table says what to grant, this one which call needs which.
RESTORE_READ: Final = (
    Use("rds", "describe_db_clusters", _p(DATABASE_CLUSTER, "rds:DescribeDBClusters")),
    Use("rds", "describe_db_instances", _p(DATABASE_CLUSTER, "rds:DescribeDBInstances")),
    Use("rds", "describe_db_cluster_parameters", _p(DATABASE_CLUSTER, "rds:DescribeDBClusterParameters")),
)
_TAGS = "rds:AddTagsToResource"  # both create calls pass Tags
RESTORE_CREATE: Final = (
    Use("rds", "restore_db_cluster_to_point_in_time",
        _p(DATABASE_CLUSTER, "rds:RestoreDBClusterToPointInTime", _TAGS)
        + _p(DATABASE_KEY, *RESTORE_IAM_ACTIONS["database-key"])),
    Use("rds", "create_db_instance", _p(DATABASE_CLUSTER, "rds:CreateDBInstance", _TAGS)),
)
RESTORE_CLEANUP: Final = (
    Use("rds", "delete_db_instance", _p(DATABASE_CLUSTER, "rds:DeleteDBInstance")),
    Use("rds", "delete_db_cluster", _p(DATABASE_CLUSTER, "rds:DeleteDBCluster")),
)

# Deployed-state verification (runtime/verify_deployed/): read-only calls, all the auditor's role is granted
# (stacks/auditor.py grants exactly these actions; tests/stacks/test_auditor_role.py compares). Only the caller
# chooses the AWS families (--family), so no task is required to grant them; the database families (runtime,
# drills) log in as the task's user, in the lifecycle job's task.
DEPLOYED_STATE: Final = "deployed state"  # Describe/List/Get of the environment's resources, read-only
AUDITOR: Final = When(option="--family <an AWS family> (the auditor's role)")


def _read(service: str, method: str, action: str) -> Use:
    return Use(service, method, _p(DEPLOYED_STATE, action), (AUDITOR,))


DEPLOYED_READS: Final = (
    *(_read("ec2", method, f"ec2:{api}") for method, api in (
        ("describe_vpcs", "DescribeVpcs"), ("describe_vpc_peering_connections", "DescribeVpcPeeringConnections"),
        ("describe_transit_gateway_attachments", "DescribeTransitGatewayAttachments"),
        ("describe_route_tables", "DescribeRouteTables"),
        ("describe_client_vpn_endpoints", "DescribeClientVpnEndpoints"),
        ("describe_client_vpn_authorization_rules", "DescribeClientVpnAuthorizationRules"))),
    *(_read("kms", method, f"kms:{api}") for method, api in (
        ("list_aliases", "ListAliases"), ("describe_key", "DescribeKey"),
        ("get_key_rotation_status", "GetKeyRotationStatus"), ("get_key_policy", "GetKeyPolicy"))),
    *(_read("rds", method, f"rds:{api}") for method, api in (
        ("describe_db_clusters", "DescribeDBClusters"), ("describe_db_instances", "DescribeDBInstances"),
        ("describe_db_cluster_parameters", "DescribeDBClusterParameters"),
        ("describe_db_cluster_snapshots", "DescribeDBClusterSnapshots"),
        ("describe_db_cluster_snapshot_attributes", "DescribeDBClusterSnapshotAttributes"))),
    _read("backup", "describe_backup_vault", "backup:DescribeBackupVault"),
    _read("backup", "list_backup_jobs", "backup:ListBackupJobs"),
    *(_read("s3", method, f"s3:{action}") for method, action in (
        ("list_buckets", "ListAllMyBuckets"), ("get_bucket_tagging", "GetBucketTagging"),
        ("get_bucket_encryption", "GetEncryptionConfiguration"),
        ("get_public_access_block", "GetBucketPublicAccessBlock"), ("get_bucket_policy", "GetBucketPolicy"),
        ("get_object_lock_configuration", "GetBucketObjectLockConfiguration"))),
    *(_read("elbv2", method, f"elasticloadbalancing:{api}") for method, api in (
        ("describe_load_balancers", "DescribeLoadBalancers"), ("describe_tags", "DescribeTags"),
        ("describe_listeners", "DescribeListeners"))),
    _read("wafv2", "get_web_acl_for_resource", "wafv2:GetWebACLForResource"),
    _read("cloudtrail", "describe_trails", "cloudtrail:DescribeTrails"),
    _read("cloudtrail", "get_trail_status", "cloudtrail:GetTrailStatus"),
    _read("guardduty", "list_detectors", "guardduty:ListDetectors"),
    _read("guardduty", "get_detector", "guardduty:GetDetector"),
    _read("securityhub", "describe_hub", "securityhub:DescribeHub"),
    *(_read("ecs", method, f"ecs:{api}") for method, api in (
        ("list_services", "ListServices"), ("describe_services", "DescribeServices"),
        ("describe_task_definition", "DescribeTaskDefinition"))),
)


def deployed_read_actions() -> list[str]:
    """The IAM actions of every deployed-state read, each once, sorted: the auditor role's policy."""
    return sorted({p.action for use in DEPLOYED_READS for p in use.permissions})


# --- The contract: command name -> the calls it makes ---
SERVE_OWNER: Final = f"serve {ServiceMode.OWNER.value}"
SERVE_SUPPORT: Final = f"serve {ServiceMode.SUPPORT.value}"
DB_SETUP: Final = "db setup"
CONTRACT: Final[Mapping[str, tuple[Use, ...]]] = {
    SERVE_OWNER: LOGIN + NEW_DATA_KEYS + UNWRAP_DATA_KEYS + EXPORT_DOWNLOAD + RECEIPT_PUBLIC_KEY + CUSTOMER_KEY_READ,
    SERVE_SUPPORT: LOGIN,
    # Deploy time: roles as the master user, then migrations as the owner (IAM token).
    DB_SETUP: MASTER_CREDENTIALS + _login(MIGRATION_OWNER),
    "db bootstrap-roles": LOGIN,  # by hand, as the admin: its own settings say how it logs in
    "db migrate": LOGIN,
    "db self-check": LOGIN,
    "export": LOGIN + UNWRAP_DATA_KEYS + EXPORT_WRITE,
    "export verify": EXPORT_READ,
    "export status": LOGIN,
    "erase": LOGIN + UNWRAP_DATA_KEYS + EXPORT_DELETE + ORG_KEY_DELETE + RECEIPT_SIGN,
    "erase verify": LOGIN + UNWRAP_DATA_KEYS + LIST_EXPORT_VERSIONS + RECEIPT_PUBLIC_KEY + ORG_KEY_STATE,
    "erase verify-receipt": VERIFY_RECEIPT,
    "erase register": LOGIN,
    "breach declare": LOGIN + UNWRAP_DATA_KEYS + NOTIFY + ALERTS + CHECKPOINT_PUBLIC_KEY,
    "breach deliver": LOGIN + UNWRAP_DATA_KEYS + NOTIFY + ALERTS,
    "breach status": LOGIN + ALERTS,
    # A scratch database on the same cluster: created by the drill role (CREATEDB, never the master user: only
    # `db setup` reads the master secret) and migrated by it, worked in as the jobs role; a local keyring and
    # file notifications (nothing leaves the task). LOGIN: the drill's record in the live database.
    "breach drill": LOGIN + _login(DRILL_ROLES),
    "restore plan": RESTORE_READ,
    "restore apply": LOGIN + RESTORE_READ + RESTORE_CREATE,  # LOGIN: row counts on the restored cluster
    "restore drill": LOGIN + RESTORE_READ + RESTORE_CREATE + RESTORE_CLEANUP,
    "audit verify": LOGIN + CHAIN_KEY_FROM_SECRET + CHECKPOINT_PUBLIC_KEY + CHECKPOINT_READ,
    "audit sequence": LOGIN + CHECKPOINT_SIGN + CHECKPOINT_PUBLISH,
    # LOGIN: --pending and its audit ledger events; customer keys requested by an admin are checked again
    "org provision-keys": LOGIN + ORG_KEY_PROVISION + CUSTOMER_KEY_CHECK,
    "org key-state": LOGIN + ORG_KEY_STATE,  # LOGIN: whether the organisation registered its own key
    "org register-key": LOGIN + CUSTOMER_KEY_CHECK,
    "org cancel-key-deletion": LOGIN + ORG_KEY_CANCEL,  # LOGIN: the audit ledger event
    # Unwrap with the old shared key, wrap the same data key under the organisation's (kms:Encrypt, its context).
    "org migrate-keys": LOGIN + ORG_KEY_PROVISION + UNWRAP_DATA_KEYS + (
        Use("kms", "encrypt", _p(ORGANISATION_KEYS, "kms:Encrypt"), (ORG_KEYS,)),),
    "verify-deployed": DEPLOYED_READS + LOGIN + CHAIN_KEY_FROM_SECRET + CHECKPOINT_PUBLIC_KEY + CHECKPOINT_READ,
}


def needs(command: str, environ: Mapping[str, str | None]) -> Iterator[Permission]:
    """The permissions `command` needs in a task with these settings (each once, in contract order)."""
    seen: set[Permission] = set()
    for use in CONTRACT[command]:
        if use.needed(environ):
            for permission in use.permissions:
                if permission not in seen:
                    seen.add(permission)
                    yield permission


def may_read_master_secret(command: str) -> bool:
    """Whether `command` reads the master secret (the rule lets only such a command's task reach it)."""
    return any(p == Permission(READ_SECRET, MASTER_SECRET) for use in CONTRACT[command] for p in use.permissions)


# --- The declaration: PLATFORM_TASK_COMMANDS ---
def parse_declaration(value: str) -> tuple[str, ...]:
    """`"export, export verify"` -> ("export", "export verify"): names with single spaces, blanks dropped."""
    return tuple(" ".join(part.split()) for part in value.split(",") if part.strip())


def declaration(*commands: str) -> str:
    """The value of PLATFORM_TASK_COMMANDS for these commands (the stacks call it); unknown names raise."""
    unknown = [c for c in commands if c not in CONTRACT]
    if unknown:
        raise ValueError(f"not runtime commands: {', '.join(unknown)} (runtime/permissions.py CONTRACT)")
    return ",".join(commands)


def command_of(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The contract's name of the command argparse parsed (`serve` by its PLATFORM_SERVICE_MODE), or None."""
    name = getattr(args, "command", None)
    if not name:
        return None
    if name == "serve":
        return f"serve {environ.get(settings.SERVICE_MODE, '').strip().lower() or ServiceMode.OWNER.value}"
    sub = getattr(args, f"{name}_command", None)
    return f"{name} {sub}" if sub else str(name)


def undeclared_command(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """Why this task may not run the parsed command, or None. Without PLATFORM_TASK_COMMANDS, anything runs
    (development, an operator's shell); with it, only what it names."""
    raw = environ.get(settings.TASK_COMMANDS)
    command = command_of(args, environ)
    if raw is None or command is None:
        return None
    declared = parse_declaration(raw)
    if command in declared:
        return None
    listed = ", ".join(declared) or "nothing"
    return (f"this task declares {settings.TASK_COMMANDS}={raw!r} ({listed}), not `{command}`: its role is granted "
            "for those commands only; run it in the task definition that declares it")
