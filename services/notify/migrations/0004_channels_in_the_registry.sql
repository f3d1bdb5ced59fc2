-- A subscription's channel is checked against notify's channel registry (services/notify/channels/),
-- not a list in SQL: adding a channel is one module and its registration, with no migration.
ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_channel_check;
