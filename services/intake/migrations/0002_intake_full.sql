-- Intake in full: richer cases, submissions (duplicate links, Open311 tokens), idempotency, callbacks.
ALTER TABLE cases
    ADD COLUMN reporter_count    int         NOT NULL DEFAULT 1,
    ADD COLUMN classification    jsonb,
    ADD COLUMN attributes        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN media_url         text,
    ADD COLUMN address_id        text,
    -- Normalised address text (duplicates.normalise_place) so address-only duplicates use an index.
    ADD COLUMN address_key       text,
    ADD COLUMN source            text        NOT NULL DEFAULT 'api',
    -- When the resident raised it, if earlier than submission (a survey's own date).
    ADD COLUMN reported_at       timestamptz,
    -- Latest department note (Open311 status_notes) and the event time it came from.
    ADD COLUMN status_note       text,
    ADD COLUMN note_at           timestamptz,
    ADD COLUMN assignee_at       timestamptz,
    -- Resolution deadline (Open311 expected_datetime) and the event time it came from.
    ADD COLUMN expected_at       timestamptz,
    ADD COLUMN expected_event_at timestamptz,
    -- Callback (回访) round of the latest CaseResolved.
    ADD COLUMN resolved_round    int;

-- Duplicate lookups: open cases of a category, newest first.
CREATE INDEX cases_open_by_category ON cases (category, submitted_at)
    WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX cases_updated_at ON cases (updated_at);

ALTER TABLE case_timeline ADD COLUMN actor text;

-- Every accepted report: the one that opened a case and each one linked to it as a duplicate.
-- `submission_id` doubles as the Open311 token. Contact details stay here, never on a topic.
CREATE TABLE submissions (
    submission_id  text PRIMARY KEY,
    case_id        text        NOT NULL REFERENCES cases (case_id),
    linked         boolean     NOT NULL,
    reporter_kind  text        NOT NULL,
    source         text        NOT NULL,
    contact        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL
);
CREATE INDEX submissions_case ON submissions (case_id);

-- Idempotency-Key: the first response to a key, and a hash of the body it answered.
CREATE TABLE idempotency_keys (
    scope         text        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status_code   int,
    response      jsonb,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The resident's answer to each callback round; the key makes a second answer impossible.
CREATE TABLE feedback (
    case_id       text        NOT NULL REFERENCES cases (case_id),
    round         int         NOT NULL,
    solved        boolean     NOT NULL,
    satisfaction  text        NOT NULL,
    comment       text,
    reopen        boolean     NOT NULL,
    received_at   timestamptz NOT NULL,
    PRIMARY KEY (case_id, round)
);
