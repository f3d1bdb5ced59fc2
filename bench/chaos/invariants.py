"""The invariant checker: what every sequence-numbered need left behind, counted once per stage.

`collect` reads the services' tables and the topics; `tally` (pure) turns those facts into the
counts: submitted, routed, armed, notified, dead-lettered, lost (must be 0), doubled (must be 0).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from bench.needs import seq_of
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS, audience_topic

SUBMITTED = "lastmeter.need.submitted"
ROUTED = "lastmeter.case.routed"
ARMED = "lastmeter.sla.deadline_armed"
NOTIFIED_TYPES = (SUBMITTED, ROUTED, ARMED)


@dataclass
class Facts:
    """Everything observed about the run's needs, keyed by case id."""

    accepted: dict[int, str] = field(default_factory=dict)  # seq -> case id, from 202 replies
    committed: dict[int, list[str]] = field(default_factory=dict)  # seq -> case ids in intake's table
    assignments: dict[str, int] = field(default_factory=dict)  # routing decisions per case
    deadlines: dict[tuple[str, str], int] = field(default_factory=dict)  # armed deadlines per (case, kind)
    # Below, events are labelled by type, and deadline events by "type:kind" (sla arms several kinds).
    stream: dict[tuple[str, str], int] = field(default_factory=dict)  # notify stream rows per (case, label)
    # Distinct event ids seen on topics per (case, type); redelivered copies share an id.
    events: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    audience: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    dead_letters: int = 0


@dataclass
class Tally:
    """The counts the checker prints; `problems` says which case failed which check."""

    submitted: int = 0
    routed: int = 0
    armed: int = 0
    notified: int = 0
    dead_lettered: int = 0
    lost: int = 0
    doubled: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0

    def line(self) -> str:
        return (
            f"submitted={self.submitted} routed={self.routed} armed={self.armed} notified={self.notified} "
            f"dead-lettered={self.dead_lettered} lost={self.lost} doubled={self.doubled}"
        )


def tally(facts: Facts) -> Tally:
    """Count each need once per stage; a need missing from a stage is lost, one there twice is doubled."""
    t = Tally(dead_lettered=facts.dead_letters)
    lost_cases: set[str] = set()
    doubled_cases: set[str] = set()
    for seq, case_id in sorted(facts.accepted.items()):
        if case_id not in facts.committed.get(seq, []):
            lost_cases.add(case_id)
            t.problems.append(f"#{seq} {case_id}: accepted (202) but not in intake's table")
    for seq, case_ids in sorted(facts.committed.items()):
        if len(case_ids) > 1:
            doubled_cases.update(case_ids[1:])
            t.problems.append(f"#{seq}: {len(case_ids)} cases in intake for one submission")
        for case_id in case_ids:
            t.submitted += 1
            kinds = {k for (c, k) in facts.deadlines if c == case_id} | {
                label.split(":", 1)[1] for (c, label) in facts.events if c == case_id and label.startswith(ARMED + ":")
            }
            kinds.add("response")  # every routed case must at least have its time-to-sign deadline
            checks = {
                "routed": (facts.assignments.get(case_id, 0), len(facts.events.get((case_id, ROUTED), ()))),
            }
            for kind in sorted(kinds):
                label = f"{ARMED}:{kind}"
                checks[f"armed {kind}"] = (
                    facts.deadlines.get((case_id, kind), 0),
                    len(facts.events.get((case_id, label), ())),
                )
            published = len(facts.events.get((case_id, SUBMITTED), ()))
            checks["published"] = (published, published)
            for label in [SUBMITTED, ROUTED, *(f"{ARMED}:{k}" for k in sorted(kinds))]:
                checks[f"streamed {label.rsplit('.', 1)[1]}"] = (
                    facts.stream.get((case_id, label), 0),
                    len(facts.audience.get((case_id, label), ())),
                )
            for stage, (stored, on_topic) in checks.items():
                # sla publishes `deadline armed` again whenever it recomputes a deadline (a new assignee,
                # a resumed pause), each a distinct event; for those only the stored deadline must be single.
                recomputable = stage.startswith(("armed ", "streamed deadline_armed"))
                if stored == 0 or on_topic == 0:
                    lost_cases.add(case_id)
                    t.problems.append(f"#{seq} {case_id}: not {stage} (stored {stored}, on topic {on_topic})")
                elif recomputable and stage.startswith("streamed") and stored != on_topic:
                    doubled_cases.add(case_id)
                    t.problems.append(f"#{seq} {case_id}: {stage} {stored} times for {on_topic} events")
                elif recomputable:
                    if stage.startswith("armed ") and stored > 1:
                        doubled_cases.add(case_id)
                        t.problems.append(f"#{seq} {case_id}: {stage} twice (stored {stored})")
                elif stored > 1 or on_topic > 1:
                    doubled_cases.add(case_id)
                    t.problems.append(f"#{seq} {case_id}: {stage} twice (stored {stored}, on topic {on_topic})")
            t.routed += checks["routed"] == (1, 1)
            t.armed += all(v[0] == 1 and v[1] >= 1 for k, v in checks.items() if k.startswith("armed "))
            t.notified += all(v[0] >= 1 and v[0] == v[1] for k, v in checks.items() if k.startswith("streamed "))
    t.lost = len(lost_cases)
    t.doubled = len(doubled_cases)
    return t


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, dict[str, bytes]]]:
    """Every record of a topic from the beginning (value, headers), until three polls come back empty."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group to join: every partition at once, so a slow join cannot end the read early
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    out: list[tuple[bytes | None, dict[str, bytes]]] = []
    try:
        empty = 0
        while empty < 3:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            records = [r for recs in batch.values() for r in recs]
            empty = 0 if records else empty + 1
            out += [(r.value, dict(r.headers or ())) for r in records]
    finally:
        await consumer.stop()
    return out


def _label(type_: str, kind: str | None) -> str:
    """How an event is counted: deadline events per kind, everything else per type."""
    return f"{type_}:{kind}" if type_ == ARMED and kind else type_


def _events(records: list[tuple[bytes | None, dict[str, bytes]]]) -> list[tuple[str, str, str]]:
    """(case id, label, event id) of every well-formed envelope among `records`."""
    out = []
    for value, _ in records:
        try:
            doc = orjson.loads(value or b"")
            kind = doc.get("data", {}).get("kind") if isinstance(doc.get("data"), dict) else None
            out.append((str(doc["subject"]), _label(str(doc["type"]), kind), str(doc["id"])))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return out


async def collect(
    *, dsn: str, bootstrap: str, schema_prefix: str, topic_prefix: str, tag: str, accepted: dict[int, str]
) -> Facts:
    """Read what the run's needs left in every service's tables and on the case and audience topics."""
    p = schema_prefix
    facts = Facts(accepted=dict(accepted))
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT case_id, description, street FROM {p}intake.cases WHERE description LIKE $1", f"{tag} need #%"
        )
        streets: set[str] = set()
        for r in rows:
            seq = seq_of(r["description"])
            if seq is not None:
                facts.committed.setdefault(seq, []).append(r["case_id"])
                streets.add(r["street"])
        for r in await conn.fetch(f"SELECT case_id, count(*) AS n FROM {p}routing.assignments GROUP BY case_id"):
            facts.assignments[r["case_id"]] = r["n"]
        for r in await conn.fetch(f"SELECT case_id, kind, count(*) AS n FROM {p}sla.deadlines GROUP BY case_id, kind"):
            facts.deadlines[(r["case_id"], r["kind"])] = r["n"]
        for r in await conn.fetch(
            f"SELECT case_id, type, envelope->'data'->>'kind' AS kind, count(*) AS n FROM {p}notify.stream "
            "GROUP BY case_id, type, kind"
        ):
            facts.stream[(r["case_id"], _label(r["type"], r["kind"]))] = r["n"]
        for service in ("intake", "routing", "sla", "notify"):
            facts.dead_letters += await conn.fetchval(f"SELECT count(*) FROM {p}{service}.dead_letters")
    finally:
        await conn.close()
    case_topics = [f"{topic_prefix}{t}" for t in (INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS)]
    street_topics = [f"{topic_prefix}{audience_topic('street_office', s)}" for s in sorted(streets)]
    results = await asyncio.gather(*(read_all(bootstrap, t) for t in (*case_topics, *street_topics)))
    for records in results[: len(case_topics)]:
        for case_id, type_, event_id in _events(records):
            facts.events[(case_id, type_)].add(event_id)
    for records in results[len(case_topics) :]:
        for case_id, type_, event_id in _events(records):
            facts.audience[(case_id, type_)].add(event_id)
    return facts
