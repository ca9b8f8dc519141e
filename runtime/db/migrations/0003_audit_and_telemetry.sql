-- NOT_SENSITIVE stores: the audit ledger (P14) and operational telemetry (P7). No PII, no payloads.

-- One row per access to SENSITIVE data, in chain order. owner_id has no foreign key on purpose:
-- the ledger outlives the owner's erasure (P10, P14).
CREATE TABLE platform.audit_events (
    id bigint PRIMARY KEY CHECK (id > 0),  -- position in the hash chain: 1, 2, 3, ...
    at timestamptz NOT NULL,
    event text NOT NULL,
    actor_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    fields jsonb NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);
-- Breach response (P12) asks "which owners did this actor touch, when" and "who touched this owner".
-- A bulk write lists up to thousands of row ids in `fields`; lz4 compresses them far faster than pglz.
ALTER TABLE platform.audit_events ALTER COLUMN fields SET COMPRESSION lz4;
CREATE INDEX audit_events_owner_at ON platform.audit_events (owner_id, at);
CREATE INDEX audit_events_actor_at ON platform.audit_events (actor_id, at);

-- Append-only for everyone but a superuser (who can switch triggers off: the hash chain catches that).
CREATE FUNCTION platform.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit ledger is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON platform.audit_events
    FOR EACH ROW EXECUTE FUNCTION platform.refuse_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON platform.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION platform.refuse_audit_change();

-- The chain's last position and hash. Appends lock this row, which orders concurrent writers.
CREATE TABLE platform.audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq bigint NOT NULL CHECK (seq >= 0),
    hash bytea NOT NULL
);
INSERT INTO platform.audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE TABLE platform.audit_checkpoints (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    at timestamptz NOT NULL,
    hash bytea NOT NULL,
    mac bytea NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON platform.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION platform.refuse_audit_change();

CREATE TABLE platform.telemetry_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,
    fields jsonb NOT NULL
);
CREATE INDEX telemetry_events_at ON platform.telemetry_events (at);
