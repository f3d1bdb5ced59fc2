"""Intake's typed runtime for the routes and the FastAPI dependencies its routers share."""

from __future__ import annotations

import email.message
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.limits import Refusal, check_submission
from services.intake.runtime import IntakeRuntime
from services.intake.service_layer import Deps, IntakeUow, no_store
from shared.auth import Principal
from shared.http import ApiError, authenticate
from shared.service import current_runtime
from shared.session import SESSION_COOKIE
from shared.uow import PgUnitOfWork

Rt = Annotated[IntakeRuntime, Depends(current_runtime)]


def deps_of(rt: IntakeRuntime) -> Deps:
    """Use-case dependencies for one request; the catalogue is read live so a change applies at once."""
    return Deps(
        outbox=rt.outbox,
        catalogue=rt.catalogue,
        clock=rt.clock,
        threshold=rt.settings.classification_threshold,
        auth_schema=rt.auth_schema,
    )


def uow_of(rt: IntakeRuntime) -> IntakeUow:
    """The unit of work the use cases open their transactions on.

    Made per call rather than held in a `Late` slot: it is three references, and it always names
    the running pool (a runtime started again gets a new one)."""
    return PgUnitOfWork(rt.pool, rt.outbox, no_store)


async def _optional_principal(request: Request) -> Principal | None:
    """The caller when credentials are sent (401 if they are bad), None for anonymous residents."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        if SESSION_COOKIE not in request.cookies:
            return None
        # A staff session (hotline, grid worker on /r) files as staff; a resident's own session or a
        # stale cookie files the way anyone may, anonymously.
        try:
            principal = await authenticate(request)
        except ApiError:
            return None
        return None if principal.role == "resident" else principal
    return await authenticate(request)


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]


def submission_refusal(rt: IntakeRuntime, request: Request, principal: Principal | None) -> Refusal | None:
    """Take one submission from the caller's bucket (its key's, or its client address's); the refusal when empty."""
    peer = request.client.host if request.client else None
    # Several header lines read as one list, in order: the last proxy's entry is the rightmost.
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return check_submission(rt.extras.limiters, principal, peer=peer, forwarded=forwarded)


async def _limit(request: Request, rt: Rt, principal: OptionalPrincipal) -> None:
    refusal = submission_refusal(rt, request, principal)
    if refusal is not None:
        # The native error handler keeps an HTTPException's headers; ApiError has none to carry.
        raise StarletteHTTPException(429, detail=refusal.message(), headers=refusal.headers())


SubmissionLimit = Annotated[None, Depends(_limit)]


async def require_json(request: Request) -> None:
    """415 naming Content-Type unless the body is JSON (an XML body to a JSON route, say)."""
    value = request.headers.get("content-type")
    if value and value.split(";", 1)[0].strip().lower() == "application/json":
        return  # the common case, without a header parse
    if value:
        message = email.message.Message()
        message["content-type"] = value
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"this route takes a JSON body (Content-Type: application/json), got {value or 'no Content-Type'}",
        fields=[{"field": "Content-Type", "message": "must be application/json"}],
    )


JsonBody = Annotated[None, Depends(require_json)]
