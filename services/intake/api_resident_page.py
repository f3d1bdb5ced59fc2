"""The residents' page `/r` (static files from `resident_page/`) and its login.

A resident opens `/r#t=<token>`: the fragment never reaches a server; the page POSTs the token once
to `/v1/session/resident` and gets the shared HttpOnly session cookie, which opens only that token's
own view (the principal is the token's, `case_id` and all). Hotline operators and grid workers log in
on the same route with their staff key. The answer carries the case's reopen link as a QR code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from shared.http import ApiError
from shared.service import Runtime
from shared.session import CSRF_HEADER, SESSION_COOKIE, sign_session

router = APIRouter(tags=["resident page"])
ASSETS = Path(__file__).parent / "resident_page"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SESSION_SECONDS = 8 * 3600
# Who may use the page with a key: on behalf of a resident (hotline, grid workers) or to look.
STAFF_ROLES = frozenset({"grid_worker", "street_office", "admin"})
HEADERS = {
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class Credential(BaseModel):
    """A resident's access token or a staff key, sent once in the body (never in a URL)."""

    credential: str = Field(min_length=1, max_length=200)


@router.get("/r", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers=HEADERS)


@router.get("/r/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)


def _csrf(value: str | None) -> None:
    if value != "1":
        raise ApiError(
            403,
            "forbidden",
            f"send the header '{CSRF_HEADER}: 1' with this request",
            fields=[{"field": CSRF_HEADER, "message": "missing"}],
        )


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def reopen_link(request: Request, token: str) -> str:
    """The resident's own link: the token in the fragment, which browsers never send to a server."""
    return f"{str(request.base_url).rstrip('/')}/r#t={token}"


@router.post(
    "/v1/session/resident", summary="Open the residents' page: a resident token or staff key becomes a session"
)
async def login(
    body: Credential,
    request: Request,
    response: Response,
    rt: Runtime,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> dict[str, Any]:
    _csrf(csrf)
    credential = body.credential.strip()
    principal = await rt.keys.authenticate(credential)
    if principal is None or principal.key_id is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown, expired or revoked link or key",
            fields=[{"field": "credential", "message": "not valid"}],
        )
    if principal.role != "resident" and principal.role not in STAFF_ROLES:
        raise ApiError(
            403,
            "forbidden",
            "this page is for residents, hotline operators and grid workers",
            fields=[{"field": "credential", "message": f"a {principal.role} key"}],
        )
    now = rt.clock.now().timestamp()
    secret = rt.settings.token_secret.get_secret_value()
    value = sign_session(principal.key_id, secret=secret, now=now, ttl_seconds=SESSION_SECONDS)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.headers["Cache-Control"] = "no-store"
    answer: dict[str, Any] = {"principal": {"role": principal.role, "scope": principal.scope, "name": principal.name}}
    if principal.role == "resident":
        qr = segno.make(reopen_link(request, credential), error="m")
        answer["case_id"] = principal.case_id
        answer["qr"] = qr.svg_data_uri(scale=6, border=2, dark="#000", light="#fff")
    return answer


@router.post("/v1/session/resident/logout", status_code=204, summary="Leave the residents' page: clears the session")
async def logout(request: Request, csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> Response:
    _csrf(csrf)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response
