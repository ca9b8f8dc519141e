"""Names of the container environment variables the runtime reads, and their defaults.

The service stack imports these constants so the infrastructure and the runtime cannot drift.
Nothing here reads the environment: callers pass `os.environ` (or a test mapping) explicitly.
"""

from typing import Final

# Which environment this task runs in (dev, qa, prod): part of every KMS encryption context.
ENVIRONMENT: Final = "PLATFORM_ENVIRONMENT"

# ARN (or alias) of the environment's application KMS key that wraps the per-owner data keys.
KMS_APPLICATION_KEY_ID: Final = "PLATFORM_KMS_APPLICATION_KEY_ID"

# Local keyring for development and tests: a 256-bit key, base64-encoded, in a variable or a file.
LOCAL_MASTER_KEY: Final = "PLATFORM_LOCAL_MASTER_KEY"
LOCAL_MASTER_KEY_FILE: Final = "PLATFORM_LOCAL_MASTER_KEY_FILE"

# Whose key wraps an organisation's data keys (P6, P10, runtime/wiring/keyring.py): "per-organisation" (default:
# the organisation's own KMS key, alias alias/<APP_NAME>-<ENVIRONMENT>-org-<organisation id>, so erasure can
# destroy it) or "shared" (the environment's one key: KMS_APPLICATION_KEY_ID or the local master key; refused in
# prod). Unset: per-organisation, or, in a non-prod environment given only a shared key, shared (a warning).
KEYRING_MODE: Final = "PLATFORM_KEYRING_MODE"
DEFAULT_KEYRING_MODE: Final = "per-organisation"
# The app name of the stacks (config app_name): part of every organisation key's alias.
APP_NAME: Final = "PLATFORM_APP_NAME"
# Local per-organisation keys (local runs and tests): a directory of key files, one per organisation, OUTSIDE
# the database; deleting an organisation's file is destroying its key.
LOCAL_ORGANISATION_KEYS_DIR: Final = "PLATFORM_LOCAL_ORGANISATION_KEYS_DIR"
# `org provision-keys`: the runtime roles (comma-separated ARNs) an organisation key's policy lets generate and
# decrypt data keys with the organisation's encryption context, and the role that administers the keys.
ORGANISATION_KEY_USER_ROLE_ARNS: Final = "PLATFORM_ORGANISATION_KEY_USER_ROLE_ARNS"
ORGANISATION_KEY_ADMIN_ROLE_ARN: Final = "PLATFORM_ORGANISATION_KEY_ADMIN_ROLE_ARN"
# Erasure schedules deletion of the organisation's key with this pending window (days, 7 to 30, KMS's range).
KEY_DELETION_PENDING_DAYS: Final = "PLATFORM_KEY_DELETION_PENDING_DAYS"
DEFAULT_KEY_DELETION_PENDING_DAYS: Final = 7

# Limits of the cache of unwrapped data keys.
DEK_CACHE_MAX_AGE_SECONDS: Final = "PLATFORM_DEK_CACHE_MAX_AGE_SECONDS"
DEK_CACHE_MAX_USES: Final = "PLATFORM_DEK_CACHE_MAX_USES"
DEK_CACHE_MAX_ENTRIES: Final = "PLATFORM_DEK_CACHE_MAX_ENTRIES"

# Defaults: KMS is called about once per owner per five minutes. A cached key encrypts at most
# 2**20 values before it is reloaded, which also bounds how many random nonces share one derived
# AES key (collision chance below 2**-57, far under NIST SP 800-38D's 2**-32).
DEFAULT_DEK_CACHE_MAX_AGE_SECONDS: Final = 300.0
DEFAULT_DEK_CACHE_MAX_USES: Final = 2**20
DEFAULT_DEK_CACHE_MAX_ENTRIES: Final = 10_000

# --- Set by the service stack on every task (stacks/service.py imports these names) ---
# "owner" serves the owner API; "support" serves only NOT_SENSITIVE views through the support role (P4).
SERVICE_MODE: Final = "PLATFORM_SERVICE_MODE"
# Where and as whom to connect. The password is a fresh IAM auth token per connection (no secret).
DATABASE_HOST: Final = "PLATFORM_DATABASE_HOST"
DATABASE_PORT: Final = "PLATFORM_DATABASE_PORT"
DATABASE_NAME: Final = "PLATFORM_DATABASE_NAME"
DATABASE_USER: Final = "PLATFORM_DATABASE_USER"
DATABASE_IAM_AUTH: Final = "PLATFORM_DATABASE_IAM_AUTH"
# CA bundle that verifies the database's certificate (sslmode=verify-full, P5); in the image.
DATABASE_CA_BUNDLE: Final = "PLATFORM_DATABASE_CA_BUNDLE"
# Port the service listens on; with TLS on (HIPAA mode) it serves HTTPS itself (P5).
SERVICE_PORT: Final = "PLATFORM_SERVICE_PORT"
SERVICE_TLS: Final = "PLATFORM_SERVICE_TLS"
# Secret key of the audit hash chain (P14), injected by ECS from Secrets Manager, never logged.
AUDIT_CHAIN_KEY: Final = "PLATFORM_AUDIT_CHAIN_KEY"
# The ALB's OIDC signer (load balancer ARN) whose x-amzn-oidc-data header the service trusts.
ALB_SIGNER_ARN: Final = "PLATFORM_ALB_SIGNER_ARN"
# The audit trail's signed checkpoints (P14, runtime/db/sequencer.py): the environment's asymmetric KMS key (ARN;
# ECC_NIST_P256, SIGN_VERIFY) the sequencer signs with (kms:Sign) and verifiers read the public key of
# (kms:GetPublicKey); the Object Lock bucket they are kept in; the cadence (a checkpoint at most EVERY positions
# and SECONDS after anything was sequenced). Local runs and tests sign with an EC P-256 PEM file instead.
AUDIT_SIGNING_KEY_ID: Final = "PLATFORM_AUDIT_SIGNING_KEY_ID"
LOCAL_AUDIT_SIGNING_KEY_FILE: Final = "PLATFORM_LOCAL_AUDIT_SIGNING_KEY_FILE"
AUDIT_CHECKPOINT_BUCKET: Final = "PLATFORM_AUDIT_CHECKPOINT_BUCKET"
AUDIT_CHECKPOINT_EVERY: Final = "PLATFORM_AUDIT_CHECKPOINT_EVERY"
AUDIT_CHECKPOINT_SECONDS: Final = "PLATFORM_AUDIT_CHECKPOINT_SECONDS"
DEFAULT_AUDIT_CHECKPOINT_EVERY: Final = 1000
DEFAULT_AUDIT_CHECKPOINT_SECONDS: Final = 10

# --- The data service (runtime/service), read by runtime.service.config ---
# Address the service binds: all interfaces in a task (the load balancer reaches the task's ENI), 127.0.0.1 locally.
SERVICE_HOST: Final = "PLATFORM_SERVICE_HOST"
# With SERVICE_TLS=true (HIPAA mode, P5): the PEM certificate (chain) and private key the service serves HTTPS
# with, both files; or SERVICE_TLS_SELF_SIGNED=true, a certificate the task makes for itself at start-up (the
# load balancer encrypts to its targets but does not verify their certificates).
SERVICE_TLS_CERT_FILE: Final = "PLATFORM_SERVICE_TLS_CERT_FILE"
SERVICE_TLS_KEY_FILE: Final = "PLATFORM_SERVICE_TLS_KEY_FILE"
SERVICE_TLS_SELF_SIGNED: Final = "PLATFORM_SERVICE_TLS_SELF_SIGNED"
# Largest request body accepted, in bytes (413 above it).
SERVICE_MAX_BODY_BYTES: Final = "PLATFORM_SERVICE_MAX_BODY_BYTES"
# How callers authenticate (AUTH_MODE is one of the AUTH_MODE_* values below):
# - AUTH_MODE_ALB_OIDC: the load balancer signed the user in and passes the signed x-amzn-oidc-data header;
#   needs ALB_SIGNER_ARN.
# - AUTH_MODE_BEARER_JWT: an IdP's access tokens (Authorization: Bearer), verified against JWT_ISSUER,
#   JWT_AUDIENCE and exactly one key source: JWT_JWKS_URL, JWT_JWKS or JWT_JWKS_FILE.
# - AUTH_MODE_ALB_OIDC_OR_BEARER_JWT (the data service only; qa): a request with an Authorization header is
#   verified as a bearer token and nothing else, any other request by its x-amzn-oidc-data header; needs
#   both the ALB signer and the bearer settings.
# The support service reads the SAME variables (issuer, audience, key source, ALB signer), set to the staff
# IdP's values on its task, plus AUTH_STAFF_CLAIM and AUTH_STAFF_ROLE (P4).
# The claim naming the caller's organisation (the owner id, a UUID) is AUTH_ORGANISATION_CLAIM.
AUTH_MODE: Final = "PLATFORM_AUTH_MODE"
AUTH_MODE_ALB_OIDC: Final = "alb-oidc"
AUTH_MODE_BEARER_JWT: Final = "bearer-jwt"
AUTH_MODE_ALB_OIDC_OR_BEARER_JWT: Final = "alb-oidc+bearer-jwt"
AUTH_ORGANISATION_CLAIM: Final = "PLATFORM_AUTH_ORGANISATION_CLAIM"
# Who is the organisation's admin (may request its export or erasure): a caller whose verified token's
# AUTH_ADMIN_CLAIM (a string or a list of strings) contains AUTH_ADMIN_ROLE. No claim, no admin (403).
AUTH_ADMIN_CLAIM: Final = "PLATFORM_AUTH_ADMIN_CLAIM"
AUTH_ADMIN_ROLE: Final = "PLATFORM_AUTH_ADMIN_ROLE"
# Support mode only, and required there (no defaults): a caller is support staff when its verified token's
# AUTH_STAFF_CLAIM (a string or a list of strings) contains AUTH_STAFF_ROLE; anyone else gets the same 401 as a
# bad token on every support route (P4). The data service ignores both.
AUTH_STAFF_CLAIM: Final = "PLATFORM_AUTH_STAFF_CLAIM"
AUTH_STAFF_ROLE: Final = "PLATFORM_AUTH_STAFF_ROLE"
JWT_ISSUER: Final = "PLATFORM_JWT_ISSUER"
JWT_AUDIENCE: Final = "PLATFORM_JWT_AUDIENCE"
# The IdP's JWKS over HTTPS (fetched, cached, refreshed on an unknown kid): lets the IdP rotate its keys.
JWT_JWKS_URL: Final = "PLATFORM_JWT_JWKS_URL"
# For air-gapped installs: the JWKS document itself, or a file holding it. Set exactly one of the three.
JWT_JWKS: Final = "PLATFORM_JWT_JWKS"
JWT_JWKS_FILE: Final = "PLATFORM_JWT_JWKS_FILE"
# Observability without personal data (P7; runtime/service/metrics.py, tracing.py, app.py):
# - METRICS_PORT: serve Prometheus metrics (GET /metrics) on this port, a listener of its own beside the API's, so
#   the load balancers (which forward to SERVICE_PORT only) never route it; unset: no metrics listener. Bound to
#   METRICS_HOST (default 127.0.0.1: a scraper in the same task, e.g. a collector sidecar; 0.0.0.0 lets a scraper
#   reach the task's address, which its security group must then admit on that port only from the scraper).
# - TRACES: "true" exports OpenTelemetry spans over OTLP/HTTP (off by default); the exporter reads the standard
#   OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, ...).
#   Label values and span attributes are the route template, method and status only: never a path, query,
#   header or body.
# - API_DOCS: "true" serves the interactive API description at /docs (off by default; keep it off in prod).
METRICS_PORT: Final = "PLATFORM_METRICS_PORT"
METRICS_HOST: Final = "PLATFORM_METRICS_HOST"
TRACES: Final = "PLATFORM_TRACES"
API_DOCS: Final = "PLATFORM_API_DOCS"
DEFAULT_METRICS_HOST: Final = "127.0.0.1"
DEFAULT_SERVICE_PORT: Final = 8080
DEFAULT_SERVICE_MAX_BODY_BYTES: Final = 1_048_576
DEFAULT_AUTH_MODE: Final = AUTH_MODE_ALB_OIDC
DEFAULT_AUTH_ORGANISATION_CLAIM: Final = "org_id"
DEFAULT_AUTH_ADMIN_CLAIM: Final = "org_roles"
DEFAULT_AUTH_ADMIN_ROLE: Final = "org-admin"

# --- Database connections (P5), read by runtime.db.config ---
# Only "verify-full" is accepted; the variable exists so a weaker value fails loudly instead of silently.
DATABASE_SSLMODE: Final = "PLATFORM_DATABASE_SSLMODE"
# Secrets Manager secret (ARN or name) with the database password, when IAM authentication is off.
DATABASE_PASSWORD_SECRET_ID: Final = "PLATFORM_DATABASE_PASSWORD_SECRET_ID"  # noqa: S105 (a variable name)
DATABASE_POOL_MIN_SIZE: Final = "PLATFORM_DATABASE_POOL_MIN_SIZE"
# The data service opens two pools of this size: the owner API's async one and the sync one of the lifecycle
# routes and probes (plus 3 connections for the key store): size the database's max_connections for 2x + 3.
DATABASE_POOL_MAX_SIZE: Final = "PLATFORM_DATABASE_POOL_MAX_SIZE"
DEFAULT_DATABASE_PORT: Final = 5432
DEFAULT_DATABASE_POOL_MIN_SIZE: Final = 1
DEFAULT_DATABASE_POOL_MAX_SIZE: Final = 10

# --- Breach response (P12) and point-in-time restore (P11), read by runtime/cli/breach.py and restore.py ---
# The incident SNS topic (stacks/audit.py: <app>-<env>-incidents): declared, overdue and failed-delivery alerts.
INCIDENT_TOPIC_ARN: Final = "PLATFORM_INCIDENT_TOPIC_ARN"
# Verified SES identity (address) breach notifications are sent from.
BREACH_SENDER: Final = "PLATFORM_BREACH_SENDER"
# How impacted users reach the operator about a breach (an address or a URL); printed in every notification.
BREACH_CONTACT: Final = "PLATFORM_BREACH_CONTACT"
# "ses" (default when a sender is set) or "file" (drills, installs without SES); the file notifier's directory.
BREACH_NOTIFIER: Final = "PLATFORM_BREACH_NOTIFIER"
BREACH_NOTIFIER_DIR: Final = "PLATFORM_BREACH_NOTIFIER_DIR"
# Secrets Manager secret of the database admin (RDS master user): only `breach drill` uses it, to create and
# drop its scratch database.
DATABASE_ADMIN_SECRET_ID: Final = "PLATFORM_DATABASE_ADMIN_SECRET_ID"  # noqa: S105 (a variable name)

# --- Lifecycle jobs: portability export (P13) and erasure (P10), read by runtime.lifecycle.config ---
# Set by the service stack on the lifecycle job task definition.
# The longest time any backup of the environment keeps data, in days: max(backup_retention_days,
# pitr_retention_days) of the environment's configuration (stacks/config.py longest_backup_retention_days).
# Erasure receipts state "complete everywhere by" = erasure time + this; erasure refuses to run without it.
LONGEST_BACKUP_RETENTION_DAYS: Final = "PLATFORM_LONGEST_BACKUP_RETENTION_DAYS"
# The export bucket (stacks/storage.py exports_bucket_name) and the exports KMS key (ARN) it encrypts with.
EXPORTS_BUCKET: Final = "PLATFORM_EXPORTS_BUCKET"
EXPORTS_KMS_KEY_ID: Final = "PLATFORM_EXPORTS_KMS_KEY_ID"
# Lifetime of the presigned download URLs of an export, in seconds (1 to 604800, SigV4's limit). A URL signed
# with the task role's temporary credentials stops working when they expire, whichever comes first.
EXPORT_URL_EXPIRY_SECONDS: Final = "PLATFORM_EXPORT_URL_EXPIRY_SECONDS"
DEFAULT_EXPORT_URL_EXPIRY_SECONDS: Final = 86_400
# The data service's download URLs for an organisation's admin (POST /v1/lifecycle/exports/{id}/downloads, P13):
# their lifetime in seconds, 60 to 3600 (default 900: 15 minutes), never beyond the task role's credentials.
# The data service signs them only when EXPORTS_BUCKET is set on its task (and its role may s3:GetObject the
# export objects and kms:Decrypt with the exports key through S3).
EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS: Final = "PLATFORM_EXPORT_DOWNLOAD_URL_EXPIRY_SECONDS"
# Secret key (>= 32 bytes) that MACs erasure receipts, injected by ECS from Secrets Manager, never logged.
# Receipts of version 1 were MAC'd with it; it now only VERIFIES those old receipts (optional: without it, a v1
# receipt cannot be checked). New receipts are signed (RECEIPT_SIGNING_KEY_ID).
ERASURE_RECEIPT_KEY: Final = "PLATFORM_ERASURE_RECEIPT_KEY"
# The environment's asymmetric KMS key (ARN; ECC_NIST_P256, SIGN_VERIFY) that signs erasure receipts
# (runtime/lifecycle/receipt_signing.py, P10): the lifecycle job signs with it (kms:Sign), the data service
# publishes its public key (kms:GetPublicKey). Set by the service stack on both task definitions.
RECEIPT_SIGNING_KEY_ID: Final = "PLATFORM_RECEIPT_SIGNING_KEY_ID"
# Local runs and tests only (ENVIRONMENT local or test): an EC P-256 private key, PEM, in a variable or a file,
# instead of the KMS key. Never both; never in a deployed environment.
LOCAL_RECEIPT_SIGNING_KEY: Final = "PLATFORM_LOCAL_RECEIPT_SIGNING_KEY"
LOCAL_RECEIPT_SIGNING_KEY_FILE: Final = "PLATFORM_LOCAL_RECEIPT_SIGNING_KEY_FILE"

# --- Deploy-time database setup: `python -m runtime db setup` (stacks/constructs/database_setup.py) ---
# The setup task logs in as the admin (the username and password of DATABASE_ADMIN_SECRET_ID, the RDS master
# secret), creates or repairs the roles, then logs in as DATABASE_MIGRATION_USER (with an IAM token when
# DATABASE_IAM_AUTH is true) and migrates. Host, port, database and CA bundle are the DATABASE_* above;
# DATABASE_USER is not read. The stack sets DATABASE_MIGRATION_USER to runtime.db.schema.OWNER_ROLE, the user
# its rds-db:connect grant names (and the default).
DATABASE_MIGRATION_USER: Final = "PLATFORM_DATABASE_MIGRATION_USER"
# How long a setup run waits for another run's lock (two deploys, a retried task) before it fails, in seconds.
DATABASE_SETUP_LOCK_TIMEOUT_SECONDS: Final = "PLATFORM_DATABASE_SETUP_LOCK_TIMEOUT_SECONDS"
DEFAULT_DATABASE_SETUP_LOCK_TIMEOUT_SECONDS: Final = 600

# --- The permission contract (runtime/permissions.py) ---
# The commands a task definition runs, comma-separated, as named in runtime.permissions.CONTRACT ("serve owner",
# "export", "export verify", "db setup", ...). The service stack sets it on every task; the platform pack's rule
# checks the task role grants what those commands need (and no more of the master secret); with it set,
# `python -m runtime` refuses any other command, so the declaration is true by construction.
TASK_COMMANDS: Final = "PLATFORM_TASK_COMMANDS"
