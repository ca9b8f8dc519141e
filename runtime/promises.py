"""The policy's promises (P1-P14, from the project's POLICY.md), and where each is kept: the one table of them.

The compliance report (stacks/policy/report.py) and the deployed-state report (runtime/verify_deployed/report.py)
walk it. The compliance report: for promises kept in the infrastructure it shows the
synth-time rules and their results; for promises kept at run time it names the runtime
modules that enforce them and the tests that prove them, so an auditor can follow each one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Promise:
    id: str
    title: str
    kept_in: str  # "infra", "runtime" or "infra + runtime"
    runtime: tuple[str, ...] = ()  # modules that enforce it at run time
    tests: tuple[str, ...] = ()  # tests that prove it


PROMISES: tuple[Promise, ...] = (
    Promise("P1", "Segregated environments", "infra", tests=("tests/stacks/test_environment_templates.py",)),
    Promise(
        "P2",
        "Classification of every store, table and column",
        "infra + runtime",
        runtime=("runtime/classification/",),
        tests=("tests/runtime/classification/", "tests/stacks/test_platform_rules.py"),
    ),
    Promise(
        "P3",
        "Owner-only access, enforced by row-level security",
        "runtime",
        # The database binds every transaction to its owner (RLS); the service authenticates who the owner is.
        runtime=("runtime/db/", "runtime/service/owner_api.py", "runtime/service/auth.py", "runtime/service/jwks.py"),
        tests=("tests/runtime/db/", "tests/runtime/service/", "tests/runtime/service/test_token_attacks.py"),
    ),
    Promise(
        "P4",
        "Support reads NOT_SENSITIVE data only, over a logged VPN",
        "infra + runtime",
        # Staff authenticate with an identity of their own; the support role reads NOT_SENSITIVE views only.
        runtime=("runtime/db/roles.py", "runtime/db/support_views.py", "runtime/service/identity.py",
                 "runtime/service/support_api.py"),
        tests=("tests/stacks/test_service_templates.py", "tests/runtime/db/",
               "tests/runtime/service/test_staff_identity.py"),
    ),
    Promise(
        "P5",
        "TLS 1.2+ in transit, database refuses plaintext, clients verify",
        "infra + runtime",
        # verify-full to the database (settings, then the connection), and the service's own TLS in HIPAA mode.
        runtime=("runtime/db/config.py", "runtime/db/connect.py", "runtime/service/tls.py"),
        tests=("tests/stacks/test_service_templates.py", "tests/runtime/db/", "tests/runtime/service/test_server.py"),
    ),
    Promise(
        "P6",
        "AES-256 at rest under the environment's KMS keys; envelope encryption of sensitive fields",
        "infra + runtime",
        # Infrastructure: every store's KMS key and rotation (P6 rules), the tasks' grants on the organisation keys
        # and the organisations' own keys (P3-TaskPermissionContract); runtime: each organisation's data keys under
        # its own key (a platform key by alias, or its own: BYOK, checked at registration).
        runtime=("runtime/envelope/", "runtime/envelope/keyrings/organisation.py",
                 "runtime/envelope/keyrings/customer.py", "runtime/db/organisation_keys.py",
                 "runtime/wiring/keyring.py", "runtime/cli/org.py"),
        tests=("tests/stacks/test_environment_templates.py", "tests/runtime/envelope/",
               "tests/runtime/envelope/test_organisation_keyring.py", "tests/runtime/envelope/test_customer_key.py",
               "tests/runtime/service/test_organisation_keys.py", "tests/runtime/test_keyring_guard.py",
               "tests/stacks/test_organisation_key_templates.py", "tests/stacks/test_organisation_keys_config.py",
               "tests/stacks/test_permission_contract.py"),
    ),
    Promise(
        "P7",
        "Sensitive data processed only in ECS, stored only in Aurora (and the export bucket); never in logs",
        "infra + runtime",
        runtime=("runtime/telemetry/",),
        tests=("tests/runtime/telemetry/", "tests/stacks/test_platform_rules.py"),
    ),
    Promise(
        "P8",
        "Multi-AZ database with automatic failover",
        "infra",
        tests=("tests/stacks/test_environment_templates.py",),
    ),
    Promise(
        "P9",
        "Retention until removal; daily encrypted backups; prod vault lock",
        "infra",
        tests=("tests/stacks/test_environment_templates.py",),
    ),
    Promise(
        "P10",
        "Erasure on request, reaching backups by crypto-shredding, with a receipt",
        "infra + runtime",
        # Infrastructure: the job alone may create and schedule the deletion of organisation keys (fenced to this
        # environment's tagged keys and aliases; P3-TaskPermissionContract), the receipt-signing key only it may
        # use, the schedule that provisions pending registrations' keys; runtime: erasure destroys the
        # organisation's key and signs the receipt, the owner verifies it offline.
        runtime=("runtime/lifecycle/erasure.py", "runtime/envelope/", "runtime/envelope/keyrings/organisation.py",
                 "runtime/envelope/keyrings/customer.py", "runtime/lifecycle/organisation_keys.py",
                 "runtime/cli/org.py", "runtime/lifecycle/receipt.py", "runtime/lifecycle/receipt_signing.py",
                 "runtime/cli/erase.py", "runtime/service/lifecycle_routes.py",
                 "runtime/service/organisation_key_routes.py"),
        tests=("tests/runtime/lifecycle/", "tests/runtime/lifecycle/test_erasure_shredding.py",
               "tests/runtime/envelope/test_organisation_keyring.py", "tests/runtime/cli/test_org_command.py",
               "tests/runtime/service/test_organisation_keys.py",
               "tests/runtime/lifecycle/test_receipt_signing.py", "tests/runtime/lifecycle/test_receipt_key_route.py",
               "tests/runtime/lifecycle/test_receipt_v3.py", "tests/stacks/test_receipt_signing_key.py",
               "tests/stacks/test_organisation_key_templates.py", "tests/stacks/test_permission_contract.py",
               "tests/e2e/test_lifecycle.py"),
    ),
    Promise(
        "P11",
        "Point-in-time recovery, semi-automated and drilled",
        "infra + runtime",
        runtime=("runtime/restore/",),
        tests=("tests/stacks/test_environment_templates.py", "tests/runtime/restore/"),
    ),
    Promise(
        "P12",
        "Breach response: impacted users notified within 24 hours",
        "runtime",
        runtime=("runtime/breach/",),
        tests=("tests/runtime/breach/",),
    ),
    Promise(
        "P13",
        "Portability: CSV/JSON export within 30 days of contract end",
        "runtime",
        runtime=("runtime/lifecycle/export.py", "runtime/service/lifecycle_routes.py"),
        tests=("tests/runtime/lifecycle/",),
    ),
    Promise(
        "P14",
        "Tamper-evident audit trail without PII, signed checkpoints kept outside the database",
        "infra + runtime",
        # Writers queue events in their own transaction; the sequencer (its own service, role and signing key)
        # chains them and signs checkpoints into the database and the Object Lock bucket; `audit verify` trusts
        # nothing but the public key and the bucket.
        runtime=("runtime/audit/", "runtime/db/ledger.py", "runtime/db/sequencer.py", "runtime/db/audit_verify.py",
                 "runtime/checkpoint_bucket.py", "runtime/signing.py", "runtime/cli/audit.py",
                 "runtime/breach/trail.py"),
        tests=("tests/runtime/audit/", "tests/runtime/audit/test_ledger.py", "tests/runtime/audit/test_sequencer.py",
               "tests/runtime/db/test_concurrency.py", "tests/stacks/test_audit_trail_infrastructure.py",
               "tests/e2e/test_lifecycle.py"),
    ),
)
