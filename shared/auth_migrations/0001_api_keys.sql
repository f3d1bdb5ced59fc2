-- API keys for every service. Only a SHA-256 of each key is kept; keys are long random tokens,
-- so a fast hash is enough (no password-style stretching needed).
CREATE TABLE api_keys (
    key_hash    text PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('resident', 'grid_worker', 'department', 'team', 'street_office', 'admin')),
    scope       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
