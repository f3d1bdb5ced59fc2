-- The newest catalogue versions this service has applied, so a restart resumes with them
-- instead of falling back to the file it was started with.
CREATE TABLE catalogue_versions (
    version      int PRIMARY KEY,
    fingerprint  text        NOT NULL,
    body         jsonb       NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
);
