-- API keys: only a SHA-256 of each key is kept; the key itself is shown once.
-- depends: 0006.settings-and-queue
CREATE TABLE revaer_runtime.api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    key_hash   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_keys_hash_is_sha256 CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_name_is_short CHECK (char_length(name) BETWEEN 1 AND 100)
);
