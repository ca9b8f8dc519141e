-- Per-organisation keys (issue 15, P6/P10): `python -m runtime org migrate-keys` re-wraps an organisation's
-- existing data keys, wrapped under the environment's old shared key, under the organisation's own key. It runs as
-- the jobs role, owner-bound (RLS) and audited; it changes the wrapped key only (never the key id or owner).
GRANT UPDATE (wrapped_key) ON platform.data_keys TO platform_jobs;
