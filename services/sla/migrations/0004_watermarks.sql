-- Per input partition, the instant through which sla has applied every event published before it:
-- the timer loop fires nothing due later than the lowest of them (docs/sla.md, "After an outage").
CREATE TABLE watermarks (
    topic text NOT NULL,
    partition int NOT NULL,
    known_through timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
