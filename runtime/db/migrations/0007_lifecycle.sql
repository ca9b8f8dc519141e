-- Lifecycle jobs: portability exports (P13) and erasure on request (P10). NOT_SENSITIVE bookkeeping only:
-- platform-generated ids, times, states, counts. Neither table has a foreign key to the organisation,
-- on purpose: both outlive its erasure (the erasure row IS the proof and the tombstone).
--
-- Row-level security is ENABLED, not FORCED: the owner API sees its own owner's rows only, while the
-- support views below (owned by platform_owner) list every owner's status for operators (P4, P13).

CREATE TABLE platform.export_requests (
    owner_id uuid NOT NULL,
    id uuid NOT NULL,
    requested_at timestamptz NOT NULL,
    requested_by uuid NOT NULL,
    contract_ended_at timestamptz NOT NULL,
    deadline timestamptz NOT NULL,
    format text NOT NULL CHECK (format IN ('csv', 'json', 'jsonl')),
    status text NOT NULL CHECK (status IN ('requested', 'running', 'complete', 'failed')),
    started_at timestamptz,
    completed_at timestamptz,
    location text,  -- s3://bucket/prefix/ or a directory: ids and names chosen by the platform
    manifest_sha256 bytea CHECK (octet_length(manifest_sha256) = 32),
    row_count bigint CHECK (row_count >= 0),
    failure text CHECK (failure ~ '^[A-Za-z]{1,64}$'),  -- an error class name, never a message
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX export_requests_deadline ON platform.export_requests (deadline) WHERE status <> 'complete';

CREATE TABLE platform.erasures (
    owner_id uuid PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    state text NOT NULL CHECK (state IN ('requested', 'started', 'complete')),
    requested_at timestamptz NOT NULL,
    requested_by uuid NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    key_ids bytea[] NOT NULL DEFAULT '{}',  -- ids (not keys) of the data keys that existed at the start
    canary bytea,  -- a platform constant encrypted under the owner's key before erasure: must never decrypt again
    rows_deleted jsonb NOT NULL DEFAULT '{}',
    keys_destroyed integer NOT NULL DEFAULT 0 CHECK (keys_destroyed >= 0),
    export_objects_deleted integer NOT NULL DEFAULT 0 CHECK (export_objects_deleted >= 0),
    receipt jsonb
);

ALTER TABLE platform.export_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.export_requests
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());
ALTER TABLE platform.erasures ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON platform.erasures
    USING (owner_id = platform.current_owner()) WITH CHECK (owner_id = platform.current_owner());

-- The erasure fence (P10). Every write to an owner's SENSITIVE rows or data keys first takes this owner's
-- erasure lock in SHARED mode, until its transaction ends, and is refused once an erasure is on record.
-- The erasure job takes the same lock EXCLUSIVELY to start and to finish, so it waits for in-flight writers
-- (their rows are then visible to its deletes) and no writer can slip in after it (the tombstone refuses
-- them; the foreign keys to the deleted organisation row refuse late ones). Statement-level: RLS's WITH
-- CHECK already guarantees every written row belongs to the bound owner.
CREATE FUNCTION platform.erasure_lock_key(owner uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT pg_catalog.hashtextextended('platform.erasure:' || owner::text, 0) $$;

CREATE FUNCTION platform.refuse_writes_of_erased_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bound uuid := platform.current_owner();
BEGIN
    IF bound IS NULL THEN
        RETURN NULL;  -- no owner bound: row-level security refuses every row anyway
    END IF;
    IF pg_catalog.pg_trigger_depth() > 1 THEN
        -- A foreign key's own action (ON DELETE SET NULL run by deleting a parent row): it only removes a
        -- reference, and statement triggers fire for it even when it changes no row.
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(platform.erasure_lock_key(bound));
    IF EXISTS (SELECT FROM platform.erasures e WHERE e.owner_id = bound) THEN
        RAISE EXCEPTION 'the owner''s data is being erased or was erased; the write is refused (P10)'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'owner_erasure',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.organisations
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.users
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.prompts
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.model_calls
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.datasets
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.dataset_items
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.evaluation_results
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();
CREATE TRIGGER erasure_fence BEFORE INSERT OR UPDATE ON platform.data_keys
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_writes_of_erased_owner();

-- Operators see every owner's export deadlines and erasure states, nothing else (P4, P13).
CREATE VIEW support.export_requests AS
    SELECT owner_id, id, requested_at, contract_ended_at, deadline, format, status, started_at, completed_at
    FROM platform.export_requests;
CREATE VIEW support.erasures AS
    SELECT owner_id, id, state, requested_at, started_at, completed_at FROM platform.erasures;

-- The owner API records requests and reads their status (and the fence reads erasures).
GRANT SELECT, INSERT ON platform.export_requests, platform.erasures TO platform_app;
-- Lifecycle jobs run them.
GRANT SELECT, INSERT, UPDATE ON platform.export_requests, platform.erasures TO platform_jobs;
GRANT SELECT ON support.export_requests, support.erasures TO platform_jobs, platform_support;
