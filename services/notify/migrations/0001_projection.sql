-- Notify's projection of every case, built from events only.
CREATE TABLE cases (
    case_id         text PRIMARY KEY,
    status          text        NOT NULL,
    category        text,
    community       text,
    street          text,
    assignee_kind   text,
    assignee_code   text,
    co_departments  text[]      NOT NULL DEFAULT '{}',
    sla_state       text        NOT NULL DEFAULT 'none',
    due_at          timestamptz,
    submitted_at    timestamptz,
    updated_at      timestamptz NOT NULL,
    -- Time of the newest event that set status, so late events cannot move it backwards.
    status_at       timestamptz
);
CREATE INDEX cases_street_status ON cases (street, status);

-- Every event notify fanned out, with who may see it; SSE replays from here (Last-Event-ID).
CREATE TABLE stream (
    id              bigserial PRIMARY KEY,
    event_id        text        NOT NULL UNIQUE,
    case_id         text        NOT NULL,
    type            text        NOT NULL,
    street          text,
    department      text,
    team            text,
    co_departments  text[]      NOT NULL DEFAULT '{}',
    envelope        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_case ON stream (case_id);
