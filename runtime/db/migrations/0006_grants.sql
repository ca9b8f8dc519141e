-- Least privilege per role. Nobody but platform_owner may create objects; nobody gets TRUNCATE,
-- UPDATE or DELETE on the audit ledger. Roles are created by `python -m runtime db bootstrap-roles`.

REVOKE ALL ON SCHEMA platform FROM PUBLIC;
REVOKE ALL ON SCHEMA support FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA platform FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA support FROM PUBLIC;

-- The owner API: owner-bound reads and writes (RLS), appends to the ledger and telemetry.
GRANT USAGE ON SCHEMA platform TO platform_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    platform.organisations, platform.users, platform.prompts, platform.model_calls,
    platform.datasets, platform.dataset_items, platform.evaluation_results
    TO platform_app;
GRANT SELECT, INSERT ON platform.data_keys TO platform_app;
GRANT INSERT ON platform.audit_events, platform.audit_checkpoints, platform.telemetry_events TO platform_app;
GRANT SELECT, UPDATE ON platform.audit_chain_head TO platform_app;
GRANT SELECT (seq) ON platform.audit_checkpoints TO platform_app;  -- ON CONFLICT (seq) reads it

-- Lifecycle jobs (export P13, erasure P10): owner-bound reads and deletes, and they are audited.
GRANT USAGE ON SCHEMA platform TO platform_jobs;
GRANT SELECT, DELETE ON
    platform.organisations, platform.users, platform.prompts, platform.model_calls,
    platform.datasets, platform.dataset_items, platform.evaluation_results, platform.data_keys
    TO platform_jobs;
GRANT INSERT ON platform.audit_events, platform.audit_checkpoints TO platform_jobs;
GRANT SELECT, UPDATE ON platform.audit_chain_head TO platform_jobs;
GRANT SELECT (seq) ON platform.audit_checkpoints TO platform_jobs;
GRANT USAGE ON SCHEMA support TO platform_jobs;
GRANT SELECT ON ALL TABLES IN SCHEMA support TO platform_jobs;

-- Support: the NOT_SENSITIVE views and nothing else (P4).
GRANT USAGE ON SCHEMA support TO platform_support;
GRANT SELECT ON ALL TABLES IN SCHEMA support TO platform_support;
