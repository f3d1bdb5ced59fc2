"""Group commit: needs submitted at the same moment share one transaction.

Under load dozens of requests each wait on their own commit; gathered into one transaction, N
duplicate lookups, inserts, outbox rows and commits become one of each (the survey import's
batch path, which already finds duplicates among the batch's own needs). Every request still
gets its answer only after the commit that holds its case, and a lone request goes straight
through: nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from services.intake.need import Need
from services.intake.service_layer import Deps, IntakeUow, Outcome, Writes, accept, flush, prefetch
from shared.retry import is_transient

log = structlog.get_logger(__name__)


@dataclass
class _Waiting:
    need: Need
    force_new: bool
    answer: asyncio.Future[Outcome]


class SubmissionGroups:
    """Gathers concurrent submissions; at most `max_inflight` groups are being written at once."""

    def __init__(
        self,
        *,
        uow: Callable[[], IntakeUow],
        deps: Callable[[], Deps],
        max_group: int = 64,
        max_inflight: int = 4,
    ) -> None:
        self._uow = uow
        self._deps = deps
        self._max_group = max_group
        self._max_inflight = max_inflight
        self._queue: list[_Waiting] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, need: Need, *, force_new: bool = False) -> Outcome:
        """Accept one need; returns once the transaction holding it has committed."""
        waiting = _Waiting(need, force_new, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._inflight < self._max_inflight:
            self._inflight += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await waiting.answer

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # requests parsed in this same turn of the loop join the group
            while self._queue:
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                await self._commit(group)
        finally:
            self._inflight -= 1
            if self._queue and self._inflight == 0:  # cancelled (shutdown) with requests left
                for waiting in self._queue:
                    waiting.answer.cancel()
                self._queue.clear()

    async def _commit(self, group: list[_Waiting]) -> None:
        try:
            outcomes = await self._write(group)
        except Exception as exc:
            if len(group) == 1 or is_transient(exc):
                for waiting in group:
                    _answer(waiting, exc)
                return
            # Not the database's fault: one need broke the group, so each is written alone and only it fails.
            log.warning("group commit failed; writing its needs one by one", size=len(group), error=str(exc))
            for waiting in group:
                try:
                    [outcome] = await self._write([waiting])
                except Exception as alone:
                    _answer(waiting, alone)
                else:
                    _answer(waiting, outcome)
            return
        for waiting, outcome in zip(group, outcomes, strict=True):
            _answer(waiting, outcome)

    async def _write(self, group: list[_Waiting]) -> list[Outcome]:
        deps = self._deps()
        writes = Writes()
        async with self._uow().begin() as tx:
            conn = tx.conn
            if len(group) > 1:  # one lookup for the whole group's duplicate candidates
                await prefetch(conn, deps=deps, needs=[w.need for w in group], writes=writes)
            # Group commit serves the native API, whose every reporter gets their own access token.
            outcomes = [
                await accept(conn, deps=deps, need=w.need, writes=writes, force_new=w.force_new, issue_token=True)
                for w in group
            ]
            await flush(conn, deps=deps, writes=writes)
        return outcomes


def _answer(waiting: _Waiting, result: Outcome | Exception) -> None:
    if waiting.answer.done():
        return  # the client went away; its need is stored all the same
    if isinstance(result, Exception):
        waiting.answer.set_exception(result)
    else:
        waiting.answer.set_result(result)
