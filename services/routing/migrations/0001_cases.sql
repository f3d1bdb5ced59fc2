-- Routing's view of each case: who holds it now and who held it before.
CREATE TABLE cases (
    case_id        text PRIMARY KEY,
    category       text,
    community      text        NOT NULL,
    street         text        NOT NULL,
    priority       text        NOT NULL DEFAULT 'normal',
    status         text        NOT NULL,
    assignee_kind  text,
    assignee_code  text,
    attempt        int         NOT NULL DEFAULT 0,
    need           jsonb       NOT NULL,
    submitted_at   timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX cases_assignee ON cases (assignee_kind, assignee_code) WHERE status NOT IN ('resolved', 'closed');

-- Every routing decision with its reasons, for explanation and audit.
CREATE TABLE assignments (
    id             bigserial PRIMARY KEY,
    case_id        text        NOT NULL REFERENCES cases (case_id),
    attempt        int         NOT NULL,
    assignee_kind  text        NOT NULL,
    assignee_code  text        NOT NULL,
    co_handlers    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    reasons        jsonb       NOT NULL,
    decided_at     timestamptz NOT NULL,
    UNIQUE (case_id, attempt)
);
