-- Keys may expire; a refused key is one revoked or past its expiry.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;

-- Residents' access tokens: one random token per submission (a linked duplicate included), stored
-- only as its SHA-256. It opens that reporter's own view of one case. `expires_at` is set when the
-- case closes (a set time after) and cleared when it reopens; revoking sets `revoked_at`.
CREATE TABLE resident_tokens (
    token_hash     text PRIMARY KEY,
    case_id        text        NOT NULL,
    submission_id  text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX resident_tokens_case ON resident_tokens (case_id);
