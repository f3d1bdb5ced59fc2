"""The operator's faults of issue 14 as steps of the chaos run (mixed into `Chaos`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bench.chaos import faults, operator_faults, poison

if TYPE_CHECKING:
    from bench.chaos.stream import NeedStream
    from bench.core import BenchStack
    from bench.stack import Running


class OperatorSteps:
    """A poison that fails alike forever, an oversized outbox row, sla down past a met deadline."""

    running: Running
    stack: BenchStack
    stream: NeedStream
    stall: operator_faults.Stall | None

    def step(self, name: str, result: str) -> None:
        raise NotImplementedError

    def fail(self, message: str) -> None:
        raise NotImplementedError

    async def stall_forever(self) -> None:
        """One case's row in routing times out on every try: dead-lettered after bounded tries, the rest flows."""
        self.stall = await operator_faults.inject_stall(
            dsn=self.stack.dsn,
            bootstrap=self.stack.bootstrap,
            schema_prefix=self.stack.schema_prefix,
            topic_prefix=self.stack.topic_prefix,
        )
        self.stall.accepted_before = set(self.stream.accepted.values())
        p = self.stall.poison
        self.step(
            "poison that fails alike forever",
            f"routing's insert of it times out every try; at {p.partition}/{p.offset}",
        )

    async def check_stall(self, stall: operator_faults.Stall) -> None:
        problems: list[str] = ["not checked"]
        for _ in range(60):
            problems = await poison.check(
                dsn=self.stack.dsn,
                bootstrap=self.stack.bootstrap,
                schema_prefix=self.stack.schema_prefix,
                topic_prefix=self.stack.topic_prefix,
                items=[stall.poison],
            )
            if not problems:
                break
            await asyncio.sleep(1)
        for problem in problems:
            self.fail(f"stall: {problem}")
        behind = stall.behind(self.stream.accepted)
        missing: set[str] = set(behind)
        for _ in range(60):
            missing = set(behind) - await operator_faults.routed_cases(self.stack.dsn, self.stack.schema_prefix, behind)
            if not missing:
                break
            await asyncio.sleep(1)
        if missing:
            self.fail(
                f"stall: {len(missing)} of {len(behind)} needs behind the poison on its partition never reached routing"
            )
        elif not problems:
            self.step(
                "stalled partition moved on",
                f"dead-lettered as {','.join(stall.poison.reasons)}; {len(behind)} needs behind it on "
                f"partition {stall.poison.partition} all reached routing",
            )

    async def oversized_outbox(self) -> None:
        """A catalogue too large to publish is refused; a row too large anyway is dead-lettered, the rest flows."""
        status, answer, size = await operator_faults.oversized_catalogue(
            self.stack.urls["routing"], self.stack.keys["admin"]
        )
        fields = [f.get("field") for f in answer.get("fields", [])]
        if status != 413 or fields != ["body"]:
            self.fail(f"oversized catalogue ({size} bytes): answered {status} {answer}, not 413 naming the body")
        schema = f"{self.stack.schema_prefix}intake"
        key = await operator_faults.queue_oversized_row(
            self.stack.dsn, schema, f"{self.stack.topic_prefix}{poison.INTAKE_EVENTS}"
        )
        before = len(self.stream.accepted)
        reason = None
        for _ in range(300):
            reason = await operator_faults.outbox_dead_letter(self.stack.dsn, schema, key)
            if reason and await faults.outbox_rows(self.stack.dsn, schema) == 0:
                break
            await asyncio.sleep(0.1)
        if reason != "too-large":
            self.fail(f"oversized outbox row: not dead-lettered as too-large within 30 s (got {reason!r})")
        else:
            self.step(
                "oversized outbox row",
                f"catalogue of {size} bytes refused with {status} naming the body; a "
                f"{operator_faults.MAX_REQUEST_BYTES}+ byte row in intake's outbox dead-lettered as {reason}, "
                f"{len(self.stream.accepted) - before} needs accepted meanwhile, outbox drained",
            )

    async def sla_down_past_a_met_deadline(self) -> None:
        """sla down while a `case.signed` before the deadline waits in its backlog; back after it: no breach."""
        urls, keys = self.stack.urls, self.stack.keys
        try:
            await operator_faults.add_fast_class(urls["routing"], keys["admin"])
            case_id = await operator_faults.submit_fast_case(urls["intake"])
            due = await operator_faults.armed_response(self.stack.dsn, self.stack.schema_prefix, case_id)
        except RuntimeError as exc:
            self.fail(f"sla backlog: could not set up the case: {exc}")
            return
        await faults.kill(self.running.procs["sla"])
        signed = await operator_faults.sign(urls["routing"], keys, case_id)
        signed_at = datetime.now(UTC)
        if signed != 200 or signed_at >= due:
            self.fail(f"sla backlog: signing answered {signed} at {signed_at:%H:%M:%S}, due {due:%H:%M:%S}")
            return
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 5)
        self.running.start_service("sla")
        await self.running.wait_ready("sla")
        state = None
        for _ in range(60):
            state = await operator_faults.response_state(self.stack.dsn, self.stack.schema_prefix, case_id)
            if state != "armed":
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # room for a wrong breach or escalation to come out
        alarms = await operator_faults.sla_alarms(self.stack.bootstrap, self.stack.topic_prefix, case_id)
        if state != "met" or alarms:
            self.fail(
                f"sla backlog (services/sla, issue 14's false breaches): signed "
                f"{(due - signed_at).total_seconds():.0f}s before the deadline while sla was down; after its restart "
                f"the response clock is {state!r} and it published {alarms or 'no alarm'}"
            )
        else:
            self.step(
                "sla down past a met deadline",
                f"signed {(due - signed_at).total_seconds():.0f}s before due while sla was down, sla back "
                f"{(datetime.now(UTC) - due).total_seconds():.0f}s after due: response met, no breach, no escalation",
            )
