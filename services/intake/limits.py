"""Rate limits on intake's submissions: per client address for the public, per key for staff. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.settings import IntakeSettings
from shared.auth import Principal
from shared.ratelimit import Decision, Network, Rate, TokenBuckets, client_address, client_key, parse_networks


@dataclass(frozen=True)
class Limiters:
    """The buckets of one intake process and the proxies whose X-Forwarded-For it believes."""

    public: TokenBuckets
    staff: TokenBuckets
    trusted: tuple[Network, ...]

    @classmethod
    def of(cls, settings: IntakeSettings) -> Limiters:
        return cls(
            public=TokenBuckets(settings.submission_rate()),
            staff=TokenBuckets(settings.staff_submission_rate()),
            trusted=parse_networks(settings.trusted_proxies),
        )


@dataclass(frozen=True)
class Refusal:
    """A submission over its limit: which limit, and when to come back."""

    rate: Rate
    decision: Decision

    @property
    def retry_after(self) -> int:
        return self.decision.retry_after_seconds

    def message(self) -> str:
        return (
            f"too many submissions: the limit of {self.rate.name} is {self.rate.describe()}; "
            f"retry after {self.retry_after} s"
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def is_staff(principal: Principal | None) -> bool:
    """Staff keys (not a resident's token or a resident key) get their own, per-key limit."""
    return principal is not None and principal.case_id is None and principal.role != "resident"


def check_submission(
    limiters: Limiters, principal: Principal | None, *, peer: str | None, forwarded: str | None
) -> Refusal | None:
    """Take one submission from the caller's bucket; the refusal when it is empty.

    `peer` is the socket's address, `forwarded` the X-Forwarded-For header lines joined in order.
    """
    if principal is not None and is_staff(principal):
        buckets, key = limiters.staff, principal.key_id or f"{principal.role}:{principal.name}"
    else:
        address = client_address(peer, forwarded, limiters.trusted)
        buckets, key = limiters.public, client_key(address)
    decision = buckets.take(key)
    return None if decision.allowed else Refusal(buckets.rate, decision)
