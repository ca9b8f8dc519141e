-- Breach response (P12) and the drills of the lifecycle procedures (P11, P12). NOT_SENSITIVE bookkeeping:
-- platform-generated ids, times, counts, table names, provider error codes, and operator-written text that
-- runtime.breach.content checks for personal data before it is stored. Users' addresses are never stored
-- here: the notifier reads them from platform.users at send time, owner-bound and audited (P3, P14).
-- No foreign key to the organisations: like the audit ledger, an incident outlives an owner's erasure.

-- A breach window is a time range over the ledger. Positions and times grow together, so a BRIN index
-- finds the window's blocks for a few pages of index and almost no cost to the appends.
CREATE INDEX audit_events_at_brin ON platform.audit_events USING brin (at);
-- The impact groups the window's events by (organisation, table). Without statistics on that pair the planner
-- guesses one group per event and sorts a long window on disk; with them it hash-aggregates in memory.
CREATE STATISTICS platform.audit_events_owner_table (ndistinct) ON owner_id, (fields->>'table')
    FROM platform.audit_events;

CREATE TABLE platform.breach_incidents (
    id uuid PRIMARY KEY,
    scope_fingerprint bytea NOT NULL UNIQUE CHECK (octet_length(scope_fingerprint) = 32),
    declared_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    scope jsonb NOT NULL,  -- the filters: table names and ids only
    summary text NOT NULL,
    mitigations jsonb NOT NULL DEFAULT '[]',
    contact text NOT NULL,  -- the operator's published breach contact, not a user's
    chain jsonb,  -- verification of the window: positions, first problem
    impacted_organisations integer CHECK (impacted_organisations >= 0),
    impacted_users integer CHECK (impacted_users >= 0),
    impacted_events bigint CHECK (impacted_events >= 0),
    vanished_users integer CHECK (vanished_users >= 0),
    assessed_at timestamptz,
    completed_at timestamptz,
    overdue_alerted_at timestamptz,
    CHECK (window_end > window_start),
    CHECK (due_at > declared_at)
);

-- What the in-scope events touched, per organisation and table (the operator's report reads it).
CREATE TABLE platform.breach_impacted_data (
    incident_id uuid NOT NULL REFERENCES platform.breach_incidents (id) ON DELETE CASCADE,
    owner_id uuid NOT NULL,
    table_name text NOT NULL,
    events bigint NOT NULL CHECK (events > 0),
    row_count bigint NOT NULL CHECK (row_count >= 0),
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    actions text[] NOT NULL,
    PRIMARY KEY (incident_id, owner_id, table_name)
);

-- The outbox: one row per impacted user and incident, so writing it again adds nothing (runtime/breach/outbox.py).
CREATE TABLE platform.breach_notifications (
    incident_id uuid NOT NULL REFERENCES platform.breach_incidents (id) ON DELETE CASCADE,
    owner_id uuid NOT NULL,
    user_id uuid NOT NULL,
    data_classes text[] NOT NULL CHECK (cardinality(data_classes) > 0),
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claim uuid,
    claimed_at timestamptz,
    next_attempt_at timestamptz,  -- failed rows: when to try again; NULL once given up
    sent_at timestamptz,
    provider_message_id text CHECK (provider_message_id ~ '^[A-Za-z0-9_.:@/=+-]{1,200}$'),
    last_error text CHECK (last_error ~ '^[A-Za-z0-9_.:-]{1,64}$'),  -- an error code, never a message
    created_at timestamptz NOT NULL,
    PRIMARY KEY (incident_id, owner_id, user_id)
);
CREATE INDEX breach_notifications_state ON platform.breach_notifications (incident_id, state, next_attempt_at);

-- Evidence that the procedures were drilled (yearly for P12): what ran, how long each step took, the outcome.
CREATE TABLE platform.lifecycle_drills (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('breach', 'restore')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    passed boolean NOT NULL,
    steps jsonb NOT NULL,  -- [{"name": ..., "seconds": ..., "ok": ...}]
    figures jsonb NOT NULL,  -- counts and ids of the synthetic run
    failure text CHECK (failure ~ '^[A-Za-z0-9_.:-]{1,64}$')  -- the failed step's name or error class
);
CREATE INDEX lifecycle_drills_kind_started ON platform.lifecycle_drills (kind, started_at);

-- Operators follow incidents and drills (P4): NOT_SENSITIVE columns only.
CREATE VIEW support.breach_incidents AS
    SELECT id, declared_at, due_at, window_start, window_end, impacted_organisations, impacted_users,
           completed_at
    FROM platform.breach_incidents;
CREATE VIEW support.lifecycle_drills AS
    SELECT id, kind, started_at, finished_at, passed, steps, figures, failure FROM platform.lifecycle_drills;

-- The breach job runs as platform_jobs (it already reads the ledger through support.* and users owner-bound).
GRANT SELECT, INSERT, UPDATE ON platform.breach_incidents, platform.breach_impacted_data,
    platform.breach_notifications TO platform_jobs;
GRANT SELECT, INSERT ON platform.lifecycle_drills TO platform_jobs;
GRANT SELECT ON support.breach_incidents, support.lifecycle_drills TO platform_jobs, platform_support;
