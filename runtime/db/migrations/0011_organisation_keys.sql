-- Organisation keys (issue 15, P6/P10): which key wraps an organisation's data keys, without a word of its data.
--
-- One row per organisation: source 'platform' (a KMS key of this environment, found by its alias
-- alias/<app>-<env>-org-<id>) or 'customer' (BYOK: the key ARN the organisation registered, in its own account);
-- state 'pending' (a registration waiting for `org provision-keys --pending`, the scheduled control-plane step that
-- creates platform keys: the request path never calls kms:CreateKey) or 'active'. NOT_SENSITIVE: ids, an ARN, times.
-- No foreign key to the organisation: a registration is pending BEFORE its row exists (its name is encrypted with
-- the key), and the row outlives erasure (it says whose key was destroyed, or that the customer holds it).
--
-- Row-level security is ENABLED, not FORCED, as for the lifecycle tables: the owner API sees its own row, the
-- support view below lists every organisation's (ids, sources and states only) for the control-plane job.
CREATE TABLE platform.organisation_keys (
    owner_id uuid PRIMARY KEY,
    source text NOT NULL CHECK (source IN ('platform', 'customer')),
    state text NOT NULL CHECK (state IN ('pending', 'active')),
    key_arn text CHECK (key_arn ~ '^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$'),
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    activated_at timestamptz,
    CHECK ((source = 'customer') = (key_arn IS NOT NULL)),
    CHECK ((state = 'active') = (activated_at IS NOT NULL))
);
CREATE INDEX organisation_keys_pending ON platform.organisation_keys (requested_at) WHERE state = 'pending';

ALTER TABLE platform.organisation_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.organisation_keys
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

-- Organisations that existed before this migration (they have data keys) are recorded as pending, so that
-- `org provision-keys --pending` gives each its key and `org migrate-keys --all` finds them. data_keys forces
-- row-level security even on its owner; it is lifted for this one read, inside this migration's transaction.
ALTER TABLE platform.data_keys NO FORCE ROW LEVEL SECURITY;
INSERT INTO platform.organisation_keys (owner_id, source, state)
    SELECT DISTINCT owner_id, 'platform', 'pending' FROM platform.data_keys;
ALTER TABLE platform.data_keys FORCE ROW LEVEL SECURITY;

CREATE VIEW support.organisation_keys AS
    SELECT owner_id, source, state, key_arn, requested_at, activated_at FROM platform.organisation_keys;

-- The owner API records a pending registration (its own key too: an admin's PUT /v1/organisation/key, checked
-- as the data service's role) and finds a customer's key; it can never make a customer key active: only the
-- control-plane job does, after checking the key as its own role (restrictive policies below). The job
-- provisions, registers customer keys and lists organisations (`org provision-keys --pending`, `--all`).
CREATE POLICY app_never_activates_a_customer_key ON platform.organisation_keys AS RESTRICTIVE
    FOR INSERT TO platform_app WITH CHECK (source = 'platform' OR state = 'pending');
CREATE POLICY app_updates_to_pending_only ON platform.organisation_keys AS RESTRICTIVE
    FOR UPDATE TO platform_app USING (true) WITH CHECK (state = 'pending');
GRANT SELECT, INSERT, UPDATE ON platform.organisation_keys TO platform_app;
GRANT SELECT, INSERT, UPDATE ON platform.organisation_keys TO platform_jobs;
GRANT SELECT ON support.organisation_keys TO platform_jobs, platform_support;
