-- Armed deadlines: one row per case, kind and assignment attempt.
CREATE TABLE deadlines (
    id             bigserial PRIMARY KEY,
    case_id        text        NOT NULL,
    street         text,
    kind           text        NOT NULL CHECK (kind IN ('response', 'first_feedback', 'resolution')),
    attempt        int         NOT NULL DEFAULT 1,
    assignee_kind  text,
    assignee_code  text,
    sla_class      text,
    started_at     timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    state          text        NOT NULL DEFAULT 'armed' CHECK (state IN ('armed', 'met', 'breached', 'cancelled', 'paused')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, kind, attempt)
);
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE state = 'armed';
