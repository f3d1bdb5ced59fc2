"""The dashboard's login: a staff key becomes a session cookie."""
