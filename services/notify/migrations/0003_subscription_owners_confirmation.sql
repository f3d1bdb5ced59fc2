-- Subscriptions belong to the credential that created them, SMS and e-mail targets confirm with a
-- code first, and the delivery log no longer keeps anything a receiver answered.

-- The owning credential (Principal.key_id: an API key's or a resident token's hash). Revoking it
-- stops the subscription. Subscriptions from before had no owner but a (role, scope): nobody can
-- be said to own them, so they stop; their owners subscribe again.
ALTER TABLE subscriptions
    ADD COLUMN owner_key_id       text,
    ADD COLUMN inactive_reason    text,
    -- NULL until the target proved it asked for this (webhooks: staff only, confirmed at creation).
    ADD COLUMN confirmed_at       timestamptz,
    ADD COLUMN confirm_code_hash  text,
    ADD COLUMN confirm_expires_at timestamptz,
    ADD COLUMN confirm_attempts   integer     NOT NULL DEFAULT 0,
    ADD COLUMN confirm_sent_at    timestamptz;
UPDATE subscriptions SET active = false, inactive_reason = 'created before subscriptions had an owning key'
 WHERE active;
CREATE INDEX subscriptions_owner ON subscriptions (owner_key_id) WHERE active;

-- Confirmation codes sent per target (hashed), so one phone or address is not flooded with codes.
CREATE TABLE confirmation_sends (
    id           bigserial PRIMARY KEY,
    target_hash  text        NOT NULL,
    sent_at      timestamptz NOT NULL
);
CREATE INDEX confirmation_sends_target ON confirmation_sends (target_hash, sent_at);

-- A receiver's answer may hold anything (its own data, an internal error page): never kept.
ALTER TABLE delivery_attempts DROP COLUMN response_excerpt;
