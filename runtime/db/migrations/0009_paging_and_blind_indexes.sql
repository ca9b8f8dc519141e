-- Paging and filters of the owner API (issue 17).
--
-- Keyset paging walks (created_at, id) newest first: one index per record table on (owner_id, created_at, id)
-- replaces the (owner_id, created_at) one, so a page is one index range scan whatever its depth.
--
-- Blind indexes (runtime/envelope/blind_index.py): keyed HMACs, under a key of the organisation, of the model
-- name and of the metadata's top-level key/value pairs, truncated to 16 bits. SENSITIVE (derived from user data,
-- P2) but not ciphertext: the domains bound a term to 16 bits, so a column of them cannot hold a value itself.
-- They answer equality filters only; the service decrypts the matching rows and drops false positives.
CREATE DOMAIN platform.blind_index AS integer CHECK (VALUE BETWEEN 0 AND 65535);
CREATE DOMAIN platform.blind_index_set AS integer[]
    CHECK (array_ndims(VALUE) IS NULL OR (array_ndims(VALUE) = 1 AND 0 <= ALL (VALUE) AND 65535 >= ALL (VALUE)
                                          AND array_position(VALUE, NULL) IS NULL));

ALTER TABLE platform.model_calls
    ADD COLUMN model_index platform.blind_index,
    ADD COLUMN metadata_index platform.blind_index_set;
CREATE INDEX model_calls_owner_model_index ON platform.model_calls (owner_id, model_index);
CREATE INDEX model_calls_metadata_index ON platform.model_calls USING gin ((metadata_index::integer[]));

DROP INDEX platform.users_owner_created;
CREATE INDEX users_owner_created_id ON platform.users (owner_id, created_at, id);
DROP INDEX platform.prompts_owner_created;
CREATE INDEX prompts_owner_created_id ON platform.prompts (owner_id, created_at, id);
DROP INDEX platform.model_calls_owner_created;
CREATE INDEX model_calls_owner_created_id ON platform.model_calls (owner_id, created_at, id);
DROP INDEX platform.datasets_owner_created;
CREATE INDEX datasets_owner_created_id ON platform.datasets (owner_id, created_at, id);
DROP INDEX platform.dataset_items_owner_created;
CREATE INDEX dataset_items_owner_created_id ON platform.dataset_items (owner_id, created_at, id);
DROP INDEX platform.evaluation_results_owner_created;
CREATE INDEX evaluation_results_owner_created_id ON platform.evaluation_results (owner_id, created_at, id);
