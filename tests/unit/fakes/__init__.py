"""In-memory twins of the services' stores, for unit tests of their use cases."""
