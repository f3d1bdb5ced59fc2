"""Whether a subscription's owning credential is still valid, asked at most every few seconds.

A revoked or expired key (or resident token) must stop its subscriptions within seconds: the
delivery worker asks here before every send (answers at most `ttl` old) and sweeps every active
subscription's owner on the same period, stopping those whose owner is gone.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection

import structlog

from services.notify.store import deliveries as store_delivery
from services.notify.store.deliveries import Pool

log = structlog.get_logger(__name__)
ActiveKeyIds = Callable[[Collection[str]], Awaitable[set[str]]]
REVOKED = "owner key revoked or expired"


class OwnerCheck:
    """A short-lived cache in front of `KeyStore.active_key_ids`."""

    def __init__(self, *, active_key_ids: ActiveKeyIds, ttl: float, now: Callable[[], float] = time.monotonic) -> None:
        self._active_key_ids = active_key_ids
        self._ttl = ttl
        self._now = now
        self._cache: dict[str, tuple[float, bool]] = {}

    async def valid(self, key_ids: Collection[str]) -> set[str]:
        """Which of these credentials are valid, from answers at most `ttl` seconds old."""
        now = self._now()
        fresh = {k: v for k in set(key_ids) if k and (v := self._cache.get(k)) is not None and v[0] > now}
        missing = [k for k in set(key_ids) if k and k not in fresh]
        if missing:
            active = await self._active_key_ids(missing)
            if len(self._cache) > 50_000:
                self._cache.clear()
            for key in missing:
                self._cache[key] = (now + self._ttl, key in active)
                fresh[key] = self._cache[key]
        return {k for k, (_, ok) in fresh.items() if ok}

    async def is_valid(self, key_id: str | None) -> bool:
        return bool(key_id) and key_id in await self.valid([key_id or ""])

    async def sweep(self, pool: Pool) -> int:
        """Stop the subscriptions whose owner is no longer valid; returns how many stopped."""
        owners = await store_delivery.active_owner_ids(pool)
        if not owners:
            return 0
        valid = await self.valid(owners)
        gone = [k for k in owners if k not in valid]
        stopped = await store_delivery.deactivate_owned_by(pool, owner_key_ids=gone, reason=REVOKED)
        if stopped:
            log.info("subscriptions stopped: owner key revoked or expired", subscriptions=stopped, owners=len(gone))
        return stopped
