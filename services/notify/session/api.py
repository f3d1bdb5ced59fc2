"""The dashboard's login: a key typed once becomes an HttpOnly session cookie; logout clears it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from services.notify.deps import Rt
from shared.http import ApiError
from shared.session import CSRF_HEADER, SESSION_COOKIE, sign_session

router = APIRouter(prefix="/v1/session", tags=["session"])


class Login(BaseModel):
    """An API key, sent once in the body (never in a URL)."""

    key: str = Field(min_length=1, max_length=200)


def _secure(request: Request, configured: bool | None) -> bool:
    if configured is not None:
        return configured
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _require_csrf_header(value: str | None) -> None:
    if value != "1":
        raise ApiError(
            403,
            "forbidden",
            f"send the header '{CSRF_HEADER}: 1' with this request",
            fields=[{"field": CSRF_HEADER, "message": "missing"}],
        )


@router.post("", summary="Log in with a staff API key: sets an HttpOnly, SameSite=Strict session cookie")
async def login(
    body: Login,
    request: Request,
    response: Response,
    rt: Rt,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> dict[str, Any]:
    _require_csrf_header(csrf)
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
    value = sign_session(principal.key_id, secret=settings.token_secret.get_secret_value(), now=now, ttl_seconds=ttl)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings.session_cookie_secure),
    )
    response.headers["Cache-Control"] = "no-store"
    return {
        "principal": {"role": principal.role, "scope": principal.scope, "name": principal.name},
        "expires_at": datetime.fromtimestamp(int(now + ttl), UTC).isoformat(),
    }


@router.post("/logout", status_code=204, summary="Log out: clears the session cookie")
async def logout(request: Request, rt: Rt, csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> Response:
    _require_csrf_header(csrf)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, rt.settings.session_cookie_secure),
    )
    return response
