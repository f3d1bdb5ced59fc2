"""aiokafka helpers: the producer, topic creation, and the one consumer loop every service uses."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

# The producer's ceiling for one request (aiokafka's default, spelled out so the outbox can agree).
MAX_REQUEST_BYTES = 1_048_576
# The largest message the outbox accepts: below the producer's ceiling and Apache Kafka's default
# broker limit (`message.max.bytes`, 1,048,588 bytes for a record batch), with room for the batch header.
MAX_MESSAGE_BYTES = 1_000_000


@functools.lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    hashed: int = murmur2(key)  # aiokafka is untyped
    return hashed & 0x7FFFFFFF


def cached_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioning (Java's murmur2, so every client agrees), remembering each key's hash.

    One case's events go to several topics and come back again; the pure-Python hash was ~7 % of
    notify's CPU under load.
    """
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_key_hash(key) % len(all_partitions)]


def make_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas.

    Idempotence stays off: the dev broker (Tansu) cannot do InitProducerId, and the outbox plus
    the consumers' inbox already make redelivery harmless.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
        max_request_size=MAX_REQUEST_BYTES,
        partitioner=cached_partitioner,
    )


async def ensure_topics(bootstrap_servers: str, names: Iterable[str], *, partitions: int = 6) -> list[str]:
    """Create the topics that are missing; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lastmeter-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        if not wanted:
            return []
        created: list[str] = []
        for name in wanted:
            try:
                await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        return created
    finally:
        await admin.close()


async def wait_for_broker(bootstrap_servers: str, *, within: float = 30.0) -> None:
    """Block until the broker answers metadata requests."""
    deadline = asyncio.get_running_loop().time() + within
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
    raise TimeoutError(f"broker at {bootstrap_servers} did not answer within {within}s: {last}")
