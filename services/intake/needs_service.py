"""Submitting one need through the native API: idempotency, one transaction, the response body."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.intake import store
from services.intake.group_commit import SubmissionGroups
from services.intake.need import Need
from services.intake.service_layer import Deps, Outcome, accept_one
from shared.auth import rotate_resident_token

IDEMPOTENCY_SCOPE = "needs"
# Kept with an idempotent response instead of the token, which is never stored in clear.
_SUBMISSION_KEY = "_submission_id"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


class TokenRevoked(Exception):
    """An Idempotency-Key replay for a submission whose access token was revoked."""


def response_for(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for an outcome: 202 for a new case, 200 for a link to an open one."""
    body: dict[str, Any] = {
        "case_id": outcome.case_id,
        "status": outcome.status,
        "access_token": outcome.access_token,
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
    idempotency_key: str | None,
    request_hash: str,
) -> tuple[int, dict[str, Any]]:
    """Accept a need; a repeated Idempotency-Key returns the first response with a fresh access token.

    Without a key the need joins whatever group is being committed (group commit); with one, the
    key's claim and the need share a transaction of their own. The stored response holds the
    submission id, not the token: a replay replaces the submission's token (the earlier one stops working).
    """
    if idempotency_key is None:
        return response_for(await groups.submit(need, force_new=force_new))
    async with pool.acquire() as conn, conn.transaction():
        now = deps.clock.now()
        earlier = await store.claim_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, request_hash=request_hash, now=now
        )
        if earlier is not None:
            if earlier["request_hash"] != request_hash:
                raise IdempotencyConflict
            body = orjson.loads(earlier["response"])
            token = await rotate_resident_token(
                conn, auth_schema=deps.auth_schema, submission_id=body.pop(_SUBMISSION_KEY, ""), now=now
            )
            if token is None:
                raise TokenRevoked
            return earlier["status_code"], {**body, "access_token": token}
        outcome = await accept_one(conn, deps=deps, need=need, force_new=force_new, issue_token=True)
        status, body = response_for(outcome)
        stored = {**body, "access_token": None, _SUBMISSION_KEY: outcome.submission_id}
        await store.finish_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, status_code=status, response=stored
        )
    return status, body
