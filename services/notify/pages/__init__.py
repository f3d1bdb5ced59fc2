"""Serves the street office's dashboard page (its files live in services/notify/dashboard/)."""
