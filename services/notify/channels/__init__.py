"""Ways a notification leaves notify: webhook, e-mail, SMS. Each returns an `Outcome`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt: what happened and its status, never what the receiver answered."""

    ok: bool
    outcome: str  # delivered | http_error | timeout | connect_error | refused | smtp_error | error
    status_code: int | None = None
    error: str | None = None
    retry: bool = True  # False: retrying cannot help (e.g. the URL is refused)
