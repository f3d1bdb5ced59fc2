"""Needs in through the native API: submitting one, reading a case back."""
