"""Keep every process's catalogue current: a change takes effect without a restart.

Routing publishes `catalogue changed` (the whole catalogue) on `catalogue.events`. Every process
of every service must apply it, so this is not a consumer-group member (a group would hand each
change to one process only): it reads all partitions from the beginning, applies versions newer
than the one it has, and records them in its own schema for the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaConsumer

from shared.catalogue import Catalogue, CatalogueError, parse_catalogue
from shared.events import PoisonMessage, parse_event
from shared.events.routing import CatalogueChanged
from shared.retry import Backoff

log = structlog.get_logger(__name__)


async def latest_stored(pool: asyncpg.Pool) -> Catalogue | None:
    """The newest catalogue this service recorded, if any."""
    body = await pool.fetchval("SELECT body FROM catalogue_versions ORDER BY version DESC LIMIT 1")
    return parse_catalogue(orjson.loads(body)) if body else None


async def store_version(conn: asyncpg.Connection | asyncpg.Pool, catalogue: Catalogue) -> None:
    await conn.execute(
        "INSERT INTO catalogue_versions (version, fingerprint, body) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (version) DO NOTHING",
        catalogue.version,
        catalogue.fingerprint,
        orjson.dumps(catalogue.to_dict()).decode(),
    )


async def follow_catalogue(
    *,
    bootstrap_servers: str,
    topic: str,
    pool: asyncpg.Pool,
    current: Callable[[], Catalogue],
    apply: Callable[[Catalogue], None],
) -> None:
    """Apply newer catalogue versions from `topic` until cancelled."""
    backoff = Backoff()
    while True:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            backoff.reset()
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for record in (r for recs in batches.values() for r in recs):
                    await _apply_record(record.value, pool=pool, current=current, apply=apply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("catalogue follower restarting", error=str(exc))
            await backoff.sleep()
        finally:
            await consumer.stop()


async def _apply_record(
    raw: bytes | None, *, pool: asyncpg.Pool, current: Callable[[], Catalogue], apply: Callable[[Catalogue], None]
) -> None:
    try:
        _, event = parse_event(raw)
    except PoisonMessage as poison:
        log.warning("ignored a malformed catalogue message", reason=poison.reason)
        return
    if not isinstance(event, CatalogueChanged) or event.version <= current().version:
        return
    try:
        catalogue = parse_catalogue(event.catalogue)
    except CatalogueError as err:
        log.error("ignored an invalid catalogue version", version=event.version, problems=len(err.problems))
        return
    await store_version(pool, catalogue)
    apply(catalogue)
    log.info("catalogue applied", version=catalogue.version, fingerprint=catalogue.fingerprint[:12])
