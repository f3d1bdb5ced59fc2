-- Each reporter's own view: a linked report keeps its own words and place (the case keeps the
-- first reporter's), so a linked reporter's access token shows their submission, never another's.
-- NULL on the submission that opened the case: its words and place are the case's own.
ALTER TABLE submissions
    ADD COLUMN description  text,
    ADD COLUMN address      text,
    ADD COLUMN lat          double precision,
    ADD COLUMN lon          double precision,
    ADD COLUMN grid         text,
    ADD COLUMN vulnerable   boolean;

-- Every reporter of a case may answer each callback round once. `respondent` is the answering
-- reporter's submission id, or 'staff' for an answer entered by the street office. The first
-- answer of a round is `counted`: it decides reopen/close and is the one FeedbackReceived carries
-- into the rates; later answers of that round are kept and shown, not counted again.
ALTER TABLE feedback
    ADD COLUMN respondent text    NOT NULL DEFAULT 'unknown',
    ADD COLUMN counted    boolean NOT NULL DEFAULT true;
ALTER TABLE feedback ALTER COLUMN respondent DROP DEFAULT, ALTER COLUMN counted DROP DEFAULT;
ALTER TABLE feedback DROP CONSTRAINT feedback_pkey;
ALTER TABLE feedback ADD PRIMARY KEY (case_id, round, respondent);
CREATE UNIQUE INDEX feedback_one_counted ON feedback (case_id, round) WHERE counted;
