"""Routing's figures: pure decisions per second, and routed events per second end to end through routing."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.core import BenchStack, Figure
from services.routing.cases.rules import NeedFacts, decide
from shared.catalogue import Catalogue, load_catalogue
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.settings import ServiceSettings
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS

# Routing's share of the busiest-day target: 100,000 needs through the pipeline in 30 s.
E2E_TARGET = 100_000 / 30


def sample_needs(catalogue: Catalogue, n: int, *, seed: int = 4) -> list[NeedFacts]:
    """`n` needs over every category and community; some unclassified, some from paired residents."""
    rng = random.Random(seed)
    categories = [c.code for c in catalogue.categories]
    communities = list(catalogue.communities)
    pairings = list(catalogue.pairings)
    out = []
    for _ in range(n):
        community = rng.choice(communities)
        roll = rng.random()
        category = None if roll < 0.03 else rng.choice(categories)
        pairing = rng.choice(pairings) if roll > 0.95 and pairings else None
        if pairing is not None:
            community = catalogue.community(pairing.community) or community
        out.append(
            NeedFacts(
                category=category,
                community=community.code,
                street=community.street,
                vulnerable=pairing is not None,
                pairing_id=pairing.code if pairing else None,
            )
        )
    return out


def pure_rate(catalogue: Catalogue, needs: list[NeedFacts]) -> float:
    """Decisions per second, with team loads evolving as cases are given out (and emptied every 1,000)."""
    loads: dict[str, int] = {}
    started = time.perf_counter()
    for i, facts in enumerate(needs):
        if i % 1000 == 0:
            loads.clear()
        chosen = decide(facts, catalogue, loads=loads)
        if chosen.assignee.kind == "team":
            loads[chosen.assignee.code] = loads.get(chosen.assignee.code, 0) + 1
    return len(needs) / (time.perf_counter() - started)


def need_events(catalogue: Catalogue, facts: list[NeedFacts], tag: str) -> list[tuple[str, bytes]]:
    """(case id, serialized `need submitted`) for each need."""
    now = datetime.now(UTC)
    out = []
    for i, f in enumerate(facts):
        case_id = f"{tag}-{i:06d}"
        need = NeedSubmitted(
            case_id=case_id,
            category=f.category,
            description=f"bench routing need {i}",
            community=f.community,
            street=f.street,
            vulnerable=f.vulnerable,
            pairing_id=f.pairing_id,
            submitted_at=now,
        )
        out.append((case_id, make_event(need, source="/bench", subject=case_id, time=now).to_bytes()))
    return out


async def end_to_end_rate(stack: BenchStack, catalogue: Catalogue, n: int) -> tuple[float, float]:
    """(routed events per second, seconds) for `n` needs published to intake.events until all are on routing.events."""
    tag = f"bench-rt-{uuid.uuid4().hex[:8]}"
    events = need_events(catalogue, sample_needs(catalogue, n, seed=7), tag)
    wanted = {case_id.encode() for case_id, _ in events}
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}{ROUTING_EVENTS}",
        bootstrap_servers=stack.bootstrap,
        group_id=f"{tag}-reader",
        auto_offset_reset="earliest",  # the dev broker's "latest" is unreliable; filter by our case ids instead
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, acks="all", enable_idempotence=False, linger_ms=5, max_batch_size=512 * 1024
    )
    await consumer.start()
    await producer.start()
    try:
        seen: set[bytes] = set()
        started = time.perf_counter()
        sends = [
            await producer.send(f"{stack.topic_prefix}{INTAKE_EVENTS}", body, key=k.encode()) for k, body in events
        ]
        await asyncio.gather(*sends)
        while seen != wanted:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for record in (r for recs in batches.values() for r in recs):
                if record.key in wanted and b"lastmeter.case.routed" in record.value[:400]:
                    seen.add(record.key)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
    return n / elapsed, elapsed


async def measure(stack: BenchStack) -> list[Figure]:
    """Both routing figures for `make bench` (QUICK: 10,000 pure decisions, 2,000 needs end to end)."""
    catalogue = load_catalogue(ServiceSettings().catalogue_path)
    n_pure = 10_000 if stack.quick else 100_000
    n_e2e = 1_000 if stack.quick else 20_000
    needs = sample_needs(catalogue, n_pure)
    pure = await asyncio.to_thread(pure_rate, catalogue, needs)
    rate, seconds = await end_to_end_rate(stack, catalogue, n_e2e)
    return [
        Figure(
            name=f"routing: pure decisions ({n_pure:,} needs, demo catalogue)",
            value=round(pure),
            unit="decisions/s",
            note="rules.decide with reasons, team loads evolving; one core, no I/O",
        ),
        Figure(
            name=f"routing: routed events end to end ({n_e2e:,} needs)",
            value=round(rate),
            unit="events/s",
            target=f"≥ {E2E_TARGET:,.0f}/s",
            met=rate >= E2E_TARGET,
            note=(
                f"{n_e2e:,} `need submitted` published to intake.events → all `case routed` read back in "
                f"{seconds:.1f}s; one routing process; target = the busiest day's 100,000 needs in 30 s"
            ),
        ),
    ]
