-- What support staff may read: NOT_SENSITIVE data only, through views (P4). The views run with
-- their owner's rights, so the support role needs no privilege on any table; the migration check
-- refuses a support view that reads a SENSITIVE column.

CREATE VIEW support.audit_events AS
    SELECT id, at, event, actor_id, owner_id, fields, prev_hash, hash FROM platform.audit_events;

CREATE VIEW support.audit_chain_head AS
    SELECT seq, hash FROM platform.audit_chain_head;

CREATE VIEW support.audit_checkpoints AS
    SELECT seq, at, hash, mac FROM platform.audit_checkpoints;

CREATE VIEW support.telemetry_events AS
    SELECT id, at, event, fields FROM platform.telemetry_events;
