"""The dashboard's login: a key typed once becomes an HttpOnly session cookie; logout ends the session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from services.notify.deps import Rt
from shared.http import (
    ApiError,
    clear_session_cookie,
    end_cookie_session,
    request_is_https,
    require_csrf_header,
    set_session_cookie,
)
from shared.session import CSRF_HEADER, sign_session

router = APIRouter(prefix="/v1/session", tags=["session"])


class Login(BaseModel):
    """An API key, sent once in the body (never in a URL)."""

    key: str = Field(min_length=1, max_length=200)


@router.post("", summary="Log in with a staff API key: sets an HttpOnly, SameSite=Strict session cookie")
async def login(
    body: Login,
    request: Request,
    response: Response,
    rt: Rt,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> dict[str, Any]:
    require_csrf_header(csrf)
    principal = await rt.keys.authenticate(body.key.strip())
    if principal is None or principal.key_id is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown, expired or revoked API key",
            fields=[{"field": "key", "message": "not valid"}],
        )
    if principal.role == "resident":
        raise ApiError(
            403,
            "forbidden",
            "the dashboard is for staff keys; residents use their access token",
            fields=[{"field": "key", "message": "a resident token"}],
        )
    settings = rt.settings
    now = rt.clock.now().timestamp()
    ttl = settings.session_ttl_seconds
    expires_at = datetime.fromtimestamp(int(now + ttl), UTC)
    session_id = await rt.keys.open_session(principal.key_id, expires_at=expires_at)
    value = sign_session(
        principal.key_id,
        session_id=session_id,
        secret=settings.token_secret.get_secret_value(),
        now=now,
        ttl_seconds=ttl,
    )
    set_session_cookie(
        response, value, max_age=int(ttl), secure=request_is_https(request, settings.session_cookie_secure)
    )
    return {
        "principal": {"role": principal.role, "scope": principal.scope, "name": principal.name},
        "expires_at": expires_at.isoformat(),
    }


@router.post("/logout", status_code=204, summary="Log out: ends the session on every service and clears the cookie")
async def logout(request: Request, rt: Rt, csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> Response:
    require_csrf_header(csrf)
    await end_cookie_session(request, rt)
    response = Response(status_code=204)
    clear_session_cookie(response, secure=request_is_https(request, rt.settings.session_cookie_secure))
    return response
