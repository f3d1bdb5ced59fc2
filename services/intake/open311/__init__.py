"""Open311 GeoReport v2 under /open311/v2/: services, requests, tokens, JSON or XML."""
