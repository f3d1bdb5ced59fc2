"""Rate limits on intake's submission routes: per client address for the public, per key for staff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.deps import OptionalPrincipal, Runtime, settings_of
from shared.auth import Principal
from shared.ratelimit import Decision, Network, Rate, TokenBuckets, client_address, client_key, parse_networks
from shared.service import ServiceRuntime

LIMITERS = "submission_limiters"  # key in the runtime's state, made on first use


@dataclass(frozen=True)
class Limiters:
    """The buckets of one intake process and the proxies whose X-Forwarded-For it believes."""

    public: TokenBuckets
    staff: TokenBuckets
    trusted: tuple[Network, ...]


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


def limiters_of(rt: ServiceRuntime) -> Limiters:
    """This process's limiters, built from the settings the first time they are needed."""
    found: Limiters | None = rt.state.get(LIMITERS)
    if found is None:
        settings = settings_of(rt)
        found = Limiters(
            public=TokenBuckets(settings.submission_rate()),
            staff=TokenBuckets(settings.staff_submission_rate()),
            trusted=parse_networks(settings.trusted_proxies),
        )
        rt.state[LIMITERS] = found
    return found


def is_staff(principal: Principal | None) -> bool:
    """Staff keys (not a resident's token or a resident key) get their own, per-key limit."""
    return principal is not None and principal.case_id is None and principal.role != "resident"


def check_submission(rt: ServiceRuntime, request: Request, principal: Principal | None) -> Refusal | None:
    """Take one submission from the caller's bucket; the refusal when it is empty."""
    limiters = limiters_of(rt)
    if is_staff(principal):
        assert principal is not None
        buckets, key = limiters.staff, principal.key_id or f"{principal.role}:{principal.name}"
    else:
        peer = request.client.host if request.client else None
        # Several header lines read as one list, in order: the last proxy's entry is the rightmost.
        forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
        address = client_address(peer, forwarded, limiters.trusted)
        buckets, key = limiters.public, client_key(address)
    decision = buckets.take(key)
    return None if decision.allowed else Refusal(buckets.rate, decision)


async def _limit(request: Request, rt: Runtime, principal: OptionalPrincipal) -> None:
    refusal = check_submission(rt, request, principal)
    if refusal is not None:
        # The native error handler keeps an HTTPException's headers; ApiError has none to carry.
        raise StarletteHTTPException(429, detail=refusal.message(), headers=refusal.headers())


SubmissionLimit = Annotated[None, Depends(_limit)]
