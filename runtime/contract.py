"""The names infrastructure and runtime share, defined once: the stacks import them, so the two sides can't drift.

- Database roles: the four Postgres roles (the SQL migrations grant to them by name:
  tests/test_contract.py checks the names they use are these), and which service connects as which.
- Data classification (P2): the tag key every data store carries and its two values.
- Names of the resources one side creates and the other reaches by name: the incident topic, the exports
  bucket, the lifecycle job's role. Each name function takes plain values (app name, environment name,
  account, region), never a config object, so the runtime and tests can call it too.

The split with runtime/settings.py: settings holds the names of the container environment variables (and
their defaults); this module holds the names of things. Both are pure: no boto3, no aws_cdk, no psycopg.
tests/test_contract.py fails when one of the literals below appears anywhere else in stacks/ or runtime/.
"""

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Final

# --- Database roles (runtime/db/roles.py creates them; stacks grant rds-db:connect to them by name) ---
OWNER_ROLE: Final = "platform_owner"  # owns the schemas; runs the migrations (database setup) only
APP_ROLE: Final = "platform_app"  # the owner API: owner-bound reads and writes, never an owner of tables
SUPPORT_ROLE: Final = "platform_support"  # SELECT on support.* views only (P4)
JOBS_ROLE: Final = "platform_jobs"  # lifecycle jobs (export, erasure, breach): owner-bound SELECT and DELETE
# Breach drills (P12): CREATEDB and nothing else; creates and drops the drill's scratch database, so the drill
# never needs the master user (only the deploy-time database setup reads the master secret, P3).
DRILL_ROLE: Final = "platform_drill"
# The audit sequencer (P14): the only role that orders the audit chain (positions, links, head) and records its
# signed checkpoints; writers only queue events.
SEQUENCER_ROLE: Final = "platform_sequencer"

# The runtime's services, as the service stack names them, and the database role each connects as (its only
# rds-db:connect grant and its PLATFORM_DATABASE_USER).
DATA_SERVICE: Final = "data"  # the owner API behind the public load balancer
SUPPORT_SERVICE: Final = "support"  # the support API behind the internal load balancer (P4)
LIFECYCLE_JOB: Final = "job"  # one-off export, erasure and breach tasks
AUDIT_SEQUENCER: Final = "sequencer"  # the audit sequencer service (P14): no load balancer
DATABASE_ROLES: Final[Mapping[str, str]] = MappingProxyType(
    {DATA_SERVICE: APP_ROLE, SUPPORT_SERVICE: SUPPORT_ROLE, LIFECYCLE_JOB: JOBS_ROLE, AUDIT_SEQUENCER: SEQUENCER_ROLE}
)


class ServiceMode(Enum):
    """PLATFORM_SERVICE_MODE: what a runtime task is. The stacks set it on every task definition; the runtime
    serves (owner, support), self-checks or names the command by it (runtime/db/self_check.py takes its values)."""

    OWNER = "owner"  # the data service (the owner API)
    SUPPORT = "support"  # the support service (P4)
    JOB = "job"  # one-off tasks: lifecycle jobs, breach drills, restores
    SETUP = "setup"  # the deploy-time database setup
    SEQUENCER = "sequencer"  # the audit sequencer (P14): a background service, no HTTP


# --- Data classification (P2) ---
CLASSIFICATION_TAG: Final = "data-classification"


class DataClass(Enum):
    """The two data classes of P2; the values are those of the `data-classification` tag on stores."""

    SENSITIVE = "sensitive"
    NOT_SENSITIVE = "not-sensitive"


# --- Resource names (suffixes of "<app>-<environment>") ---
INCIDENTS_SUFFIX: Final = "-incidents"
EXPORTS_SUFFIX: Final = "-exports"
# S3's account-regional namespace: CloudFormation names the bucket "<prefix>-<account>-<region>-an", a name only this
# account can create, so nobody can claim (squat) it before the first deploy or after a teardown.
ACCOUNT_REGIONAL_SUFFIX: Final = "-an"
LIFECYCLE_JOB_ROLE_SUFFIX: Final = "-lifecycle-job"
DATA_SERVICE_ROLE_SUFFIX: Final = "-data-service"
AUDIT_CHECKPOINTS_SUFFIX: Final = "-audit-checkpoints"
AUDIT_SEQUENCER_ROLE_SUFFIX: Final = "-audit-sequencer"


def incident_topic_name(app_name: str, environment: str) -> str:
    """The SNS topic every alarm and the breach job notify (stacks/audit.py creates it; the service stack
    names it in the job's policy and PLATFORM_INCIDENT_TOPIC_ARN without a reference to that stack)."""
    return f"{app_name}-{environment}{INCIDENTS_SUFFIX}"


def exports_bucket_prefix(app_name: str, environment: str) -> str:
    """The export bucket's name prefix in the account-regional namespace (what the stack gives CloudFormation)."""
    return f"{app_name}-{environment}{EXPORTS_SUFFIX}"


def exports_bucket_name(app_name: str, environment: str, account: str, region: str) -> str:
    """The portability export bucket (P13): known at synth time, so the job's IAM policy names it literally; in
    the account-regional namespace, so no other account can hold that name."""
    return f"{exports_bucket_prefix(app_name, environment)}-{account}-{region}{ACCOUNT_REGIONAL_SUFFIX}"


def data_service_role_name(app_name: str, environment: str) -> str:
    """The data service's task role: named, so the exports bucket's policy can let it read exports (the admin's
    presigned download URLs act with it, P13) without depending on the service stack."""
    return f"{app_name}-{environment}{DATA_SERVICE_ROLE_SUFFIX}"


def lifecycle_job_role_name(app_name: str, environment: str) -> str:
    """The lifecycle job's IAM role: named, so the exports bucket's policy can admit it without depending on
    the service stack."""
    return f"{app_name}-{environment}{LIFECYCLE_JOB_ROLE_SUFFIX}"


# The scheduled control-plane step of per-organisation keys (issue 15): EventBridge runs the lifecycle job with this
# command every KEY_PROVISIONING_MINUTES, so a registration waiting for its key (PUT /v1/organisation) completes
# without an operator. The stacks schedule it; the local emulation (e2e) runs what the schedule names.
PROVISION_PENDING_COMMAND: Final = ("python", "-m", "runtime", "org", "provision-keys", "--pending")
KEY_PROVISIONING_MINUTES: Final = 5


def audit_checkpoints_bucket_prefix(app_name: str, environment: str) -> str:
    """The audit checkpoint bucket's name prefix in the account-regional namespace (P14)."""
    return f"{app_name}-{environment}{AUDIT_CHECKPOINTS_SUFFIX}"


def audit_checkpoints_bucket_name(app_name: str, environment: str, account: str, region: str) -> str:
    """The Object Lock bucket of the signed audit checkpoints (P14): known at synth time, so the sequencer's and
    the verifiers' policies and PLATFORM_AUDIT_CHECKPOINT_BUCKET name it without a reference to its stack."""
    prefix = audit_checkpoints_bucket_prefix(app_name, environment)
    return f"{prefix}-{account}-{region}{ACCOUNT_REGIONAL_SUFFIX}"


def audit_sequencer_role_name(app_name: str, environment: str) -> str:
    """The audit sequencer's IAM role: named, so the signing key's policy and the checkpoint bucket's policy can
    admit it alone without depending on the service stack."""
    return f"{app_name}-{environment}{AUDIT_SEQUENCER_ROLE_SUFFIX}"


# --- Names deployed-state verification finds resources by (runtime/verify_deployed/); the stacks create them so ---
AUDITOR_ROLE_SUFFIX: Final = "-auditor"
DATABASE_CLUSTER_SUFFIX: Final = "-db"
BACKUP_VAULT_SUFFIX: Final = "-vault"


def environment_name_prefix(app_name: str, environment: str) -> str:
    """"<app>-<env>": the VPC's Name, the ECS cluster's and the CloudTrail trail's name, every stack's prefix."""
    return f"{app_name}-{environment}"


def database_cluster_identifier(app_name: str, environment: str) -> str:
    """The Aurora cluster's DBClusterIdentifier (stacks/data.py)."""
    return f"{environment_name_prefix(app_name, environment)}{DATABASE_CLUSTER_SUFFIX}"


def backup_vault_name(app_name: str, environment: str, suffix: str = "") -> str:
    """The AWS Backup vault (stacks/backup.py); suffix "-copy" for the cross-region copy vault."""
    return f"{environment_name_prefix(app_name, environment)}{BACKUP_VAULT_SUFFIX}{suffix}"


def environment_key_alias_prefix(app_name: str, environment: str) -> str:
    """The aliases of the environment's own KMS keys: alias/<app>/<env>/<purpose> (stacks/keys.py)."""
    return f"alias/{app_name}/{environment}/"


def auditor_role_name(app_name: str, environment: str) -> str:
    """The read-only role `verify-deployed` runs as (stacks/auditor.py), assumable by the configured auditor."""
    return f"{environment_name_prefix(app_name, environment)}{AUDITOR_ROLE_SUFFIX}"
