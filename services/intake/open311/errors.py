"""Open311's own error: the status and description the spec's {code, description} list carries. No I/O."""

from __future__ import annotations


class Open311Error(Exception):
    """An Open311 error: 400 (bad request), 403 (api_key), 404 (not found) or 429 (rate limit)."""

    def __init__(self, status: int, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers
