"""Survey sheets (CSV, xlsx) imported as needs, row by row."""
