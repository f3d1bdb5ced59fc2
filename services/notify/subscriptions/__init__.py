"""Subscriptions: who hears about what, by which channel; routes, use cases and pure rules."""
