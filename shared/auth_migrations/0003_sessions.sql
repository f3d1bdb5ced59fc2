-- Login sessions (the dashboard's, the workbench's and the residents' page's cookie): a random
-- session id, kept only as its SHA-256, for one credential (`key_id`, an api_keys.key_hash or a
-- resident_tokens.token_hash). Logging out sets `ended_at`; a session ended or past `expires_at`
-- is refused even though its signed cookie still verifies.
CREATE TABLE sessions (
    session_hash  text PRIMARY KEY,
    key_id        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE INDEX sessions_expires ON sessions (expires_at);
