-- Deadlines gain rounds, pauses and the data to recompute them; timers and firings make them fire.

ALTER TABLE deadlines DROP CONSTRAINT IF EXISTS deadlines_case_id_kind_attempt_key;
DROP INDEX IF EXISTS deadlines_due;
ALTER TABLE deadlines ALTER COLUMN due_at DROP NOT NULL;  -- NULL while paused
ALTER TABLE deadlines
    ADD COLUMN round        int         NOT NULL DEFAULT 1,
    ADD COLUMN calendar     text,
    ADD COLUMN duration     interval,
    ADD COLUMN pauses       jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- closed pauses [[start, end], ...]
    ADD COLUMN paused_at    timestamptz,
    ADD COLUMN stopped_at   timestamptz,
    ADD COLUMN stop_reason  text,
    -- Bumped on every reschedule: a timer of an older generation is stale and never fires.
    ADD COLUMN generation   int         NOT NULL DEFAULT 0,
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();
-- Response clocks: one per routing attempt; first-feedback and resolution: one per round.
CREATE UNIQUE INDEX deadlines_response_identity ON deadlines (case_id, round, attempt) WHERE kind = 'response';
CREATE UNIQUE INDEX deadlines_round_identity ON deadlines (case_id, kind, round) WHERE kind <> 'response';
CREATE INDEX deadlines_case ON deadlines (case_id);

-- What sla knows about each case: facts for the rates, the current round and whether it is paused.
CREATE TABLE sla_cases (
    case_id           text PRIMARY KEY,
    street            text,
    community         text,
    category          text,
    priority          text        NOT NULL DEFAULT 'normal',
    sla_class         text,
    submitted_at      timestamptz,
    round             int         NOT NULL DEFAULT 1,
    round_started_at  timestamptz,
    attempt           int         NOT NULL DEFAULT 0,
    assignee_kind     text,
    assignee_code     text,
    awaiting_since    timestamptz,  -- routing says the case waits on the resident
    paused_at         timestamptz,  -- sla's clocks are paused since (NULL: running)
    closed_at         timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The next firing of each running deadline (one row per deadline; the loop schedules the one after).
CREATE TABLE timers (
    id           bigserial PRIMARY KEY,
    deadline_id  bigint      NOT NULL REFERENCES deadlines (id) ON DELETE CASCADE,
    generation   int         NOT NULL,
    step         text        NOT NULL,
    fire_at      timestamptz NOT NULL
);
CREATE INDEX timers_fire_at ON timers (fire_at);
CREATE INDEX timers_deadline ON timers (deadline_id);

-- Every step that fired (or was skipped as stale), once: the primary key forbids a second firing.
CREATE TABLE firings (
    deadline_id  bigint      NOT NULL REFERENCES deadlines (id) ON DELETE CASCADE,
    step         text        NOT NULL,
    fire_at      timestamptz NOT NULL,  -- when it was due
    fired_at     timestamptz NOT NULL,  -- when it actually fired (never back-dated)
    skipped      boolean     NOT NULL DEFAULT false,
    fired_by     text        NOT NULL,
    PRIMARY KEY (deadline_id, step)
);

-- The three rates' counters per dimension value, street (for scoping), period and bucket.
CREATE TABLE rate_counters (
    dimension       text   NOT NULL,
    value           text   NOT NULL,
    street          text   NOT NULL DEFAULT '',
    period          text   NOT NULL,
    bucket          date   NOT NULL,
    dispatched      bigint NOT NULL DEFAULT 0,
    signed_in_time  bigint NOT NULL DEFAULT 0,
    closed          bigint NOT NULL DEFAULT 0,
    solved          bigint NOT NULL DEFAULT 0,
    rated           bigint NOT NULL DEFAULT 0,
    satisfied       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (dimension, period, bucket, value, street)
);
