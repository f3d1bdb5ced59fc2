-- Intake's cases: the only place residents' contact details are kept.
CREATE TABLE cases (
    case_id          text PRIMARY KEY,
    category         text,
    description      text        NOT NULL,
    community        text        NOT NULL,
    street           text        NOT NULL,
    grid             text,
    lat              double precision,
    lon              double precision,
    address          text,
    reporter_kind    text        NOT NULL DEFAULT 'resident',
    priority         text        NOT NULL DEFAULT 'normal',
    vulnerable       boolean     NOT NULL DEFAULT false,
    pairing_id       text,
    language         text        NOT NULL DEFAULT 'zh',
    contact          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status           text        NOT NULL DEFAULT 'submitted',
    assignee_kind    text,
    assignee_code    text,
    -- Time of the newest event applied to the status, so late, out-of-order events cannot undo it.
    status_at        timestamptz NOT NULL,
    submitted_at     timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX cases_submitted_at ON cases (submitted_at);

-- What the resident sees as the status timeline.
CREATE TABLE case_timeline (
    id        bigserial PRIMARY KEY,
    case_id   text        NOT NULL REFERENCES cases (case_id),
    at        timestamptz NOT NULL,
    status    text        NOT NULL,
    note      text,
    event_id  text UNIQUE
);
CREATE INDEX case_timeline_case ON case_timeline (case_id, at);
