"""The residents' page `/r` and its login (static files in `services/intake/resident_page/`)."""
