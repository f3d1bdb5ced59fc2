"""A LISTEN connection that keeps itself alive; callers fall back to polling while it is down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from shared.retry import Backoff

log = structlog.get_logger(__name__)


async def listen_forever(dsn: str, channel: str, on_notify: Callable[[], None]) -> None:
    """Call `on_notify` for each NOTIFY on `channel` (and once per (re)connect) until cancelled."""
    backoff = Backoff(maximum=5.0)
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda *_, lost=lost: lost.set())
            await conn.add_listener(channel, lambda *_: on_notify())
            backoff.reset()
            on_notify()  # catch up on anything written while we were not listening
            await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("listener reconnecting", channel=channel, error=str(exc))
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()
        await backoff.sleep()
