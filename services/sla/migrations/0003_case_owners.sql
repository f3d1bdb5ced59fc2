-- Who may read a case's deadlines: the routed case's co-handling departments, beside its street and
-- assignee (already here). Filled from `case routed`, which sla already consumes.
ALTER TABLE sla_cases ADD COLUMN co_handlers jsonb NOT NULL DEFAULT '[]'::jsonb;  -- [{kind, code}, ...]
