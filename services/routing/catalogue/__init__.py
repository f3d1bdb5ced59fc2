"""Routing's catalogue: read it, change it (admin), list its versions."""
