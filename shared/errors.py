"""Domain errors: what use cases raise. The HTTP edge (shared.http) maps them; nothing here knows HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A use case refused: a stable `code`, a `message` for people, the `fields` at fault, extra body keys."""

    default_code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, fields: list[dict[str, str]] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.fields = fields or []
        self.extra = extra


class InvalidInput(DomainError):
    """One field's value is not acceptable (→ 422 naming it)."""

    default_code = "validation_failed"

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"{field}: {message}", fields=[{"field": field, "message": message}], **extra)
        self.field = field


class NotFound(DomainError):
    """The thing named does not exist, or the caller may not know it does (→ 404)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The request contradicts the current state (→ 409)."""

    default_code = "conflict"


class Forbidden(DomainError):
    """The caller is known but may not do this (→ 403)."""

    default_code = "forbidden"


class Gone(DomainError):
    """It existed but is no longer usable, e.g. an expired token (→ 410)."""

    default_code = "gone"


class TooLarge(DomainError):
    """Over a size or count limit (→ 413)."""

    default_code = "payload_too_large"


class RateLimited(DomainError):
    """Too many requests; retry after `retry_after` seconds (→ 429 with Retry-After)."""

    default_code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, **extra: Any) -> None:
        super().__init__(message, code=code, **extra)
        self.retry_after = retry_after


# The HTTP status of each domain error; the first class the error is an instance of wins.
HTTP_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    Gone: 410,
    TooLarge: 413,
    RateLimited: 429,
    DomainError: 400,
}


def http_status(exc: DomainError) -> int:
    """The HTTP status a domain error answers with."""
    return next(status for cls, status in HTTP_STATUS.items() if isinstance(exc, cls))
