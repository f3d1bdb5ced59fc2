"""Submitting one need through the native API: idempotency, one transaction, the response body."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.intake import store_links
from services.intake.group_commit import SubmissionGroups
from services.intake.need import Need
from services.intake.service_layer import Deps, Outcome, accept_one
from shared.auth import issue_access_token

IDEMPOTENCY_SCOPE = "needs"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


def response_for(outcome: Outcome, *, secret: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for an outcome: 202 for a new case, 200 for a link to an open one."""
    body: dict[str, Any] = {
        "case_id": outcome.case_id,
        "status": outcome.status,
        "access_token": issue_access_token(outcome.case_id, secret),
        "linked": outcome.linked,
        "duplicate_of": outcome.case_id if outcome.linked else None,
        "reporter_count": outcome.reporter_count,
        "category": outcome.category,
        "classification": outcome.classification.model_dump(mode="json") if outcome.classification else None,
    }
    return (200 if outcome.linked else 202), body


async def submit_need(
    *,
    pool: asyncpg.Pool,
    groups: SubmissionGroups,
    deps: Deps,
    need: Need,
    force_new: bool,
    secret: str,
    idempotency_key: str | None,
    request_hash: str,
) -> tuple[int, dict[str, Any]]:
    """Accept a need; a repeated Idempotency-Key returns the first response.

    Without a key the need joins whatever group is being committed (group commit); with one, the
    key's claim and the need share a transaction of their own.
    """
    if idempotency_key is None:
        return response_for(await groups.submit(need, force_new=force_new), secret=secret)
    async with pool.acquire() as conn, conn.transaction():
        earlier = await store_links.claim_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, request_hash=request_hash, now=deps.clock.now()
        )
        if earlier is not None:
            if earlier["request_hash"] != request_hash:
                raise IdempotencyConflict
            return earlier["status_code"], orjson.loads(earlier["response"])
        outcome = await accept_one(conn, deps=deps, need=need, force_new=force_new)
        status, body = response_for(outcome, secret=secret)
        await store_links.finish_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, status_code=status, response=body
        )
    return status, body
