"""The delivery worker pool: sends queued deliveries without letting one destination hold up the rest.

Each process leases due rows (`FOR UPDATE SKIP LOCKED`, so several processes share the work),
sends each in its own task under a per-destination limit and a timeout, and records every attempt.
A failed attempt is retried with exponential backoff and full jitter until the retry window
(24 h) is spent; then the delivery is `failed` (the dead letter) until an operator replays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog

from services.notify.channels import CHANNELS, ChannelEnv, Delivery, Outcome, Sender
from services.notify.owners import REVOKED, ActiveKeyIds, OwnerCheck
from services.notify.settings import NotifySettings
from services.notify.store import deliveries as store_delivery
from services.notify.store.deliveries import Pool
from services.notify.templates import render
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.pg_listen import listen_forever
from shared.retry import Backoff

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for at most `window` after the first try."""

    base: float
    maximum: float
    window: float

    def next_attempt(
        self, *, attempt: int, retry_from: datetime, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to try again after failed attempt number `attempt`, or None when the window is spent."""
        ceiling = min(self.maximum, self.base * 2 ** max(0, attempt - 1))
        delay = (rng or random).uniform(ceiling / 2, ceiling)
        at = now + timedelta(seconds=delay)
        if at > retry_from + timedelta(seconds=self.window):
            return None
        return at


def delivery_channel(schema: str) -> str:
    """The LISTEN channel that wakes delivery workers when deliveries are queued."""
    return f"{schema}_deliveries"


class DeliveryWorker:
    """One process's pool of senders."""

    def __init__(
        self,
        *,
        pool: Pool,
        settings: NotifySettings,
        clock: Clock,
        catalogue: Callable[[], Catalogue],
        active_key_ids: ActiveKeyIds,
        env: ChannelEnv,
    ) -> None:
        self._pool = pool
        self._s = settings
        self._clock = clock
        self._catalogue = catalogue  # the live Catalogue, read at each send
        self._policy = RetryPolicy(
            settings.delivery_retry_base_seconds,
            settings.delivery_retry_max_seconds,
            settings.delivery_retry_for_seconds,
        )
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # One sender per registered channel for this process (a webhook sender keeps its connection pools).
        self._senders: dict[str, Sender] = {name: channel.sender(env) for name, channel in CHANNELS.items()}
        self._owners = OwnerCheck(active_key_ids=active_key_ids, ttl=settings.subscription_owner_check_seconds)
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until cancelled."""
        listener = asyncio.create_task(
            listen_forever(self._s.database_url, delivery_channel(self._s.db_schema), self.wake)
        )
        sweeper = asyncio.create_task(self._sweep_owners())
        backoff = Backoff()
        try:
            while True:
                self._wake.clear()
                try:
                    claimed = await self.claim_and_start()
                    backoff.reset()
                except Exception as exc:
                    log.warning("delivery claim failed", error=str(exc))
                    await backoff.sleep()
                    continue
                if claimed and self._free_slots() > 0:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._s.delivery_poll_seconds)
        finally:
            listener.cancel()
            sweeper.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(listener, sweeper, *self._tasks, return_exceptions=True)
            await asyncio.gather(*(sender.aclose() for sender in self._senders.values()))

    async def _sweep_owners(self) -> None:
        """Stop subscriptions whose owning key was revoked or expired, every few seconds."""
        while True:
            try:
                await self._owners.sweep(self._pool)
            except Exception as exc:
                log.warning("subscription owner sweep failed", error=str(exc))
            await asyncio.sleep(self._s.subscription_owner_check_seconds)

    def _free_slots(self) -> int:
        return self._s.delivery_workers - sum(self._in_flight.values())

    async def claim_and_start(self) -> int:
        """Lease what fits into free slots and start a task per delivery; returns how many."""
        free = self._free_slots()
        if free <= 0:
            return 0
        busy = [d for d, n in self._in_flight.items() if n >= self._s.delivery_per_destination]
        rows = await store_delivery.claim_due(
            self._pool,
            now=self._clock.now(),
            lease=timedelta(seconds=self._s.delivery_lease_seconds),
            limit=free,
            busy=busy,
        )
        started = 0
        for row in rows:
            dest = row["destination"]
            if self._in_flight.get(dest, 0) >= self._s.delivery_per_destination:
                # Over this destination's limit: hand it back at once rather than queue behind it.
                await store_delivery.release(self._pool, delivery_id=row["id"])
                continue
            self._in_flight[dest] = self._in_flight.get(dest, 0) + 1
            task = asyncio.create_task(self._deliver(dict(row)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _deliver(self, row: dict[str, Any]) -> None:
        dest = row["destination"]
        try:
            if not await self._still_wanted(row):
                return
            started_at = self._clock.now()
            t0 = time.monotonic()
            try:
                outcome = await self._send(row)
            except Exception as exc:  # a bug in one send must not kill the worker
                log.exception("delivery send crashed", delivery_id=row["id"])
                outcome = Outcome(False, "error", error=f"{type(exc).__name__}: {exc}"[:500])
            duration_ms = int((time.monotonic() - t0) * 1000)
            attempt = row["attempts"] + 1
            now = self._clock.now()
            next_at: datetime | None = None
            if outcome.ok:
                status = "delivered"
                self.sent += 1
            elif not outcome.retry or not row["active"]:
                status = "failed"
            else:
                next_at = self._policy.next_attempt(attempt=attempt, retry_from=row["retry_from"], now=now)
                status = "retrying" if next_at is not None else "failed"
            (log.info if outcome.ok else log.warning)(
                "delivery attempt",
                delivery_id=row["id"],
                case_id=row["case_id"],
                channel=row["channel"],
                destination=dest,
                attempt=attempt,
                outcome=outcome.outcome,
                status_code=outcome.status_code,
                error=outcome.error,
                next_status=status,
            )
            await store_delivery.record_attempt(
                self._pool,
                delivery_id=row["id"],
                attempt=attempt,
                started_at=started_at,
                duration_ms=duration_ms,
                outcome=outcome,
                status=status,
                next_attempt_at=next_at,
                now=now,
            )
        finally:
            self._in_flight[dest] -= 1
            if not self._in_flight[dest]:
                del self._in_flight[dest]
            self._wake.set()

    async def _still_wanted(self, row: dict[str, Any]) -> bool:
        """False (and the delivery abandoned) when its subscription stopped or its owner's key is gone."""
        reason = None
        if not row["active"]:
            reason = "subscription stopped or not confirmed"
        elif not await self._owners.is_valid(row["owner_key_id"]):
            reason = f"subscription stopped: {REVOKED}"
            if row["owner_key_id"]:
                await store_delivery.deactivate_owned_by(
                    self._pool, owner_key_ids=[row["owner_key_id"]], reason=REVOKED
                )
        if reason is None:
            return True
        await store_delivery.abandon(self._pool, delivery_id=row["id"], reason=reason)
        log.info("delivery abandoned", delivery_id=row["id"], subscription_id=row["subscription_id"], reason=reason)
        return False

    async def _send(self, row: dict[str, Any]) -> Outcome:
        channel = CHANNELS.get(row["channel"])
        sender = self._senders.get(row["channel"])
        if channel is None or sender is None:
            return Outcome(False, "error", error=f"unknown channel {row['channel']}", retry=False)
        envelope = row["envelope"]
        body = envelope.encode() if isinstance(envelope, str) else orjson.dumps(envelope)
        message = None
        if channel.renders:
            message = render(
                row["event_type"],
                orjson.loads(body).get("data", {}),
                case_id=row["case_id"],
                language=row["language"],
                catalogue=self._catalogue(),
            )
        delivery = Delivery(
            id=row["id"],
            subscription_id=row["subscription_id"],
            target=row["target"],
            event_type=row["event_type"],
            body=body,
            secret=row["secret"],
        )
        return await sender.deliver(delivery, message)
