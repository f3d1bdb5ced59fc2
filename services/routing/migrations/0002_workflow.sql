-- The full workflow: sign-for, decline, arbitration, progress, resolution, feedback.
ALTER TABLE cases
    ADD COLUMN co_handlers       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN member            text,
    ADD COLUMN decided_by        text        NOT NULL DEFAULT 'rules',
    ADD COLUMN final             boolean     NOT NULL DEFAULT false,
    ADD COLUMN decline_count     int         NOT NULL DEFAULT 0,
    ADD COLUMN round             int         NOT NULL DEFAULT 1,
    -- The team whose capacity slot this case holds (released on decline and resolution).
    ADD COLUMN team_slot         text,
    ADD COLUMN signed_at         timestamptz,
    ADD COLUMN first_feedback_at timestamptz,
    ADD COLUMN resolved_at       timestamptz,
    ADD COLUMN closed_at         timestamptz;
CREATE INDEX cases_street_status ON cases (street, status);

ALTER TABLE assignments
    ADD COLUMN decided_by text    NOT NULL DEFAULT 'rules',
    ADD COLUMN final      boolean NOT NULL DEFAULT false,
    ADD COLUMN member     text;

-- Every decline (退单) with its reason; decliners are never chosen again for the case.
CREATE TABLE declines (
    id             bigserial PRIMARY KEY,
    case_id        text        NOT NULL REFERENCES cases (case_id),
    attempt        int         NOT NULL,
    assignee_kind  text        NOT NULL,
    assignee_code  text        NOT NULL,
    reason_code    text        NOT NULL,
    reason_text    text,
    declined_at    timestamptz NOT NULL
);
CREATE INDEX declines_case ON declines (case_id);

-- Every workflow step (sign, progress, waits, resolution, member, priority, feedback) for the case history.
CREATE TABLE steps (
    id        bigserial PRIMARY KEY,
    case_id   text        NOT NULL REFERENCES cases (case_id),
    round     int         NOT NULL,
    action    text        NOT NULL,
    actor     text        NOT NULL,
    note      text,
    at        timestamptz NOT NULL
);
CREATE INDEX steps_case ON steps (case_id, id);

-- Open cases per volunteer team. Capacity is enforced here with a conditional UPDATE, so two
-- routing processes deciding for the same team at once cannot both take its last slot.
CREATE TABLE team_load (
    team        text PRIMARY KEY,
    open_cases  int  NOT NULL DEFAULT 0 CHECK (open_cases >= 0)
);

-- Who changed the catalogue, when, and what changed (the bodies are in catalogue_versions).
CREATE TABLE catalogue_changes (
    version      int PRIMARY KEY,
    fingerprint  text        NOT NULL,
    changed_by   text        NOT NULL,
    changed_at   timestamptz NOT NULL,
    summary      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
