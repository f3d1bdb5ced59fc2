"""All of notify's SQL: the case projection and stream (`cases`), subscriptions and deliveries
(`deliveries`), confirmation codes (`confirm`) and the dashboard's read queries (`views`)."""
