"""The staff workbench `/desk` and its start-up config (static files in `services/notify/desk/`)."""
