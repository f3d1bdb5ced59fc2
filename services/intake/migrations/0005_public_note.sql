-- The latest note staff marked public (progress or resolution `public_note`): the only note a public
-- Open311 read shows as status_notes. status_note keeps the assignee's latest own words, for staff.
ALTER TABLE cases
    ADD COLUMN public_note    text,
    ADD COLUMN public_note_at timestamptz;
