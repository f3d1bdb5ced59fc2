"""Fault injection (`make chaos`): kill services mid-stream, restart PostgreSQL, poison topics, then count."""
