"""The stream's one read use case: the rows a reconnecting client missed."""

from __future__ import annotations

from services.notify.store import views as store_views
from services.notify.store.deliveries import Pool
from services.notify.stream.hub import Row


async def missed(pool: Pool, *, after_id: int, until_id: int, limit: int) -> list[Row]:
    """Stream rows with `after_id < id <= until_id`, oldest first, at most `limit` (a Last-Event-ID replay)."""
    return list(await store_views.stream_between(pool, after_id=after_id, until_id=until_id, limit=limit))
