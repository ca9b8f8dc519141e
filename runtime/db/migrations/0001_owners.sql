-- Owners (organisations) and their users, and the type every SENSITIVE column uses (P2, P6).
-- Applied as platform_owner inside one transaction with the other pending migrations.

-- Envelope ciphertext of runtime.envelope.format: version byte 1, then at least 84 more bytes.
-- Plaintext written by mistake is refused here instead of being stored in the clear.
CREATE DOMAIN platform.envelope AS bytea
    CONSTRAINT envelope_ciphertext CHECK (octet_length(VALUE) >= 85 AND get_byte(VALUE, 0) = 1);

CREATE TABLE platform.organisations (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    name platform.envelope NOT NULL,
    billing_email platform.envelope
);

CREATE TABLE platform.users (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    email platform.envelope NOT NULL,
    display_name platform.envelope,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX users_owner_created ON platform.users (owner_id, created_at);

-- Per-owner data keys, wrapped by the environment's KMS key; deleting them crypto-shreds (P10).
-- No foreign key: an organisation's first key exists before its row (its name is encrypted with it).
CREATE TABLE platform.data_keys (
    owner_id uuid NOT NULL,
    key_id bytea NOT NULL CHECK (octet_length(key_id) = 8),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    wrapped_key bytea NOT NULL,
    PRIMARY KEY (owner_id, key_id)
);
