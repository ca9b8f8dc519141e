-- What users send and what is derived from it (P2: SENSITIVE). Payloads are envelope ciphertext.
-- Primary keys lead with owner_id: RLS always filters on it, and references between rows are
-- (owner_id, id) pairs, so a row can never point at another owner's row.

CREATE TABLE platform.prompts (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    name platform.envelope,
    body platform.envelope NOT NULL,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX prompts_owner_created ON platform.prompts (owner_id, created_at);

CREATE TABLE platform.model_calls (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    prompt_id uuid,
    model platform.envelope,
    input platform.envelope NOT NULL,
    output platform.envelope,
    input_tokens platform.envelope,
    output_tokens platform.envelope,
    metadata platform.envelope,
    PRIMARY KEY (owner_id, id),
    FOREIGN KEY (owner_id, prompt_id) REFERENCES platform.prompts (owner_id, id) ON DELETE SET NULL (prompt_id)
);
CREATE INDEX model_calls_owner_created ON platform.model_calls (owner_id, created_at);

CREATE TABLE platform.datasets (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    name platform.envelope NOT NULL,
    description platform.envelope,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX datasets_owner_created ON platform.datasets (owner_id, created_at);

CREATE TABLE platform.dataset_items (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    dataset_id uuid NOT NULL,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    input platform.envelope NOT NULL,
    expected_output platform.envelope,
    PRIMARY KEY (owner_id, id),
    FOREIGN KEY (owner_id, dataset_id) REFERENCES platform.datasets (owner_id, id) ON DELETE CASCADE
);
CREATE INDEX dataset_items_owner_created ON platform.dataset_items (owner_id, created_at);

CREATE TABLE platform.evaluation_results (
    owner_id uuid NOT NULL REFERENCES platform.organisations (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    model_call_id uuid,
    dataset_item_id uuid,
    evaluator platform.envelope NOT NULL,
    score platform.envelope,
    details platform.envelope,
    PRIMARY KEY (owner_id, id),
    FOREIGN KEY (owner_id, model_call_id) REFERENCES platform.model_calls (owner_id, id) ON DELETE CASCADE,
    FOREIGN KEY (owner_id, dataset_item_id) REFERENCES platform.dataset_items (owner_id, id) ON DELETE CASCADE
);
CREATE INDEX evaluation_results_owner_created ON platform.evaluation_results (owner_id, created_at);
