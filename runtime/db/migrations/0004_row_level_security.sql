-- Owner-only access, enforced by the database and fail-closed (P3).
--
-- The runtime binds the owner per transaction with set_config('platform.owner_id', $1, true).
-- current_setting(..., true) is NULL when nothing was ever bound and '' after a bound transaction
-- ended; both become NULL here, and `owner_id = NULL` matches no row. FORCE makes the policies
-- apply to the table owner too. The function is plain SQL without SET clauses so the planner
-- inlines it and uses the (owner_id, ...) indexes.
CREATE FUNCTION platform.current_owner() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(pg_catalog.current_setting('platform.owner_id', true), '')::uuid $$;

ALTER TABLE platform.organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.organisations
    USING (id = platform.current_owner()) WITH CHECK (id = platform.current_owner());

ALTER TABLE platform.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.users FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.users
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.data_keys
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.prompts ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.prompts FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.prompts
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.model_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.model_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.model_calls
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.datasets FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.datasets
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.dataset_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.dataset_items FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.dataset_items
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

ALTER TABLE platform.evaluation_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform.evaluation_results FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.evaluation_results
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());
