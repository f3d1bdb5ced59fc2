"""The producer's partitioner must place keys exactly where every other Kafka client would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from shared.kafka import cached_partitioner


def test_cached_partitioner_agrees_with_the_default_one() -> None:
    default = DefaultPartitioner()
    for count in (1, 3, 6):
        partitions = list(range(count))
        for i in range(500):
            key = f"case-{i:04d}-万兴".encode()
            assert cached_partitioner(key, partitions, partitions) == default(key, partitions, partitions)
            assert cached_partitioner(key, partitions, partitions) == default(key, partitions, partitions)  # cached


def test_a_keyless_message_goes_to_an_available_partition() -> None:
    assert cached_partitioner(None, [0, 1, 2], [2]) == 2
