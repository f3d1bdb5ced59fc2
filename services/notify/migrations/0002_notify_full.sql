-- Notify in full: a richer projection, duplicate links, subscriptions, the delivery log.

-- Projection: who owns the case now, SLA state per deadline, escalation, parked fan-out.
ALTER TABLE cases
    ADD COLUMN description     text,
    ADD COLUMN priority        text,
    ADD COLUMN sla_class       text,
    ADD COLUMN vulnerable      boolean     NOT NULL DEFAULT false,
    ADD COLUMN grid            text,
    ADD COLUMN assignee_at     timestamptz,
    ADD COLUMN attempt         integer     NOT NULL DEFAULT 0,
    ADD COLUMN co_handlers     jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN previous        jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN co_teams        text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN member          text,
    ADD COLUMN deadlines       jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN escalation      text,
    ADD COLUMN reporter_count  integer     NOT NULL DEFAULT 1,
    ADD COLUMN decline_count   integer     NOT NULL DEFAULT 0,
    ADD COLUMN round           integer     NOT NULL DEFAULT 1,
    ADD COLUMN last_note       text,
    ADD COLUMN satisfaction    text,
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN is_open         boolean     NOT NULL DEFAULT true,
    ADD COLUMN last_event_at   timestamptz;
CREATE INDEX cases_open ON cases (street, is_open, submitted_at DESC);
CREATE INDEX cases_assignee ON cases (assignee_kind, assignee_code) WHERE is_open;
CREATE INDEX cases_co_departments ON cases USING gin (co_departments);

ALTER TABLE stream
    ADD COLUMN co_teams        text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN submission_ids  text[]      NOT NULL DEFAULT '{}';

-- A later report linked to an open case (DuplicateLinked): its reporter follows the open case.
CREATE TABLE links (
    submission_id   text PRIMARY KEY,
    case_id         text        NOT NULL,
    linked_at       timestamptz NOT NULL
);
CREATE INDEX links_case ON links (case_id);

-- Events seen before notify knew the case's street: fanned out once it does.
CREATE TABLE parked (
    event_id        text PRIMARY KEY,
    case_id         text        NOT NULL,
    event_time      timestamptz NOT NULL,
    envelope        jsonb       NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_case ON parked (case_id);

-- Who wants to hear about what, how. Contact targets stay here; events never carry them.
CREATE TABLE subscriptions (
    id              text PRIMARY KEY,
    owner_role      text        NOT NULL,
    owner_scope     text,
    owner_case      text,
    owner_name      text        NOT NULL DEFAULT '',
    channel         text        NOT NULL CHECK (channel IN ('webhook', 'email', 'sms')),
    target          text        NOT NULL,
    secret          text,
    event_types     text[]      NOT NULL DEFAULT '{}',
    scope_kind      text        NOT NULL CHECK (scope_kind IN ('all', 'street', 'department', 'team', 'case')),
    scope_code      text        NOT NULL DEFAULT '',
    language        text        NOT NULL DEFAULT 'zh',
    active          boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    description     text
);
CREATE INDEX subscriptions_scope ON subscriptions (scope_kind, scope_code) WHERE active;

-- One row per subscription x event: the unique key is why a redelivered event never notifies twice.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id text        NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_id        text        NOT NULL,
    case_id         text        NOT NULL,
    event_type      text        NOT NULL,
    channel         text        NOT NULL,
    destination     text        NOT NULL,
    envelope        jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'retrying', 'delivering', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL,
    -- Start of the retry window (24 h by default); a replay starts a new one.
    retry_from      timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text,
    last_status     integer,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'delivering';

-- Every attempt and its outcome.
CREATE TABLE delivery_attempts (
    id              bigserial PRIMARY KEY,
    delivery_id     bigint      NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt         integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer     NOT NULL,
    outcome         text        NOT NULL,
    status_code     integer,
    error           text,
    response_excerpt text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

-- The development SMS provider records messages here instead of sending them.
CREATE TABLE sms_messages (
    id              bigserial PRIMARY KEY,
    phone           text        NOT NULL,
    body            text        NOT NULL,
    delivery_id     bigint,
    sent_at         timestamptz NOT NULL
);
