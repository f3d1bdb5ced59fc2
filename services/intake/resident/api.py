"""The residents' page `/r` (static files from `services/intake/resident_page/`) and its login routes.

A resident opens `/r#t=<token>`: the fragment never reaches a server; the page POSTs the token once
to `/v1/session/resident` and gets the shared HttpOnly session cookie, which opens only that token's
own view (the principal is the token's, `case_id` and all). Hotline operators and grid workers log in
on the same route with their staff key. The answer carries the case's reopen link as a QR code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse

from services.intake.deps import Rt
from services.intake.resident.models import Credential
from services.intake.resident.service_layer import SESSION_SECONDS, open_session, qr_data_uri, reopen_link
from shared.http import (
    ApiError,
    clear_session_cookie,
    end_cookie_session,
    request_is_https,
    require_csrf_header,
    set_session_cookie,
)
from shared.session import CSRF_HEADER

router = APIRouter(tags=["resident page"])
ASSETS = Path(__file__).parent.parent / "resident_page"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
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


@router.get("/r", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers=HEADERS)


@router.get("/r/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)


@router.post(
    "/v1/session/resident", summary="Open the residents' page: a resident token or staff key becomes a session"
)
async def login(
    body: Credential,
    request: Request,
    response: Response,
    rt: Rt,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> dict[str, Any]:
    require_csrf_header(csrf)
    credential = body.credential.strip()
    opened = await open_session(
        rt.keys,
        credential=credential,
        secret=rt.settings.token_secret.get_secret_value(),
        now=rt.clock.now().timestamp(),
    )
    if opened is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown, expired or revoked link or key",
            fields=[{"field": "credential", "message": "not valid"}],
        )
    principal = opened.principal
    set_session_cookie(response, opened.cookie, max_age=SESSION_SECONDS, secure=request_is_https(request))
    answer: dict[str, Any] = {"principal": {"role": principal.role, "scope": principal.scope, "name": principal.name}}
    if principal.role == "resident":
        answer["case_id"] = principal.case_id
        answer["qr"] = qr_data_uri(reopen_link(str(request.base_url), credential))
    return answer


@router.post("/v1/session/resident/logout", status_code=204, summary="Leave the residents' page: ends the session")
async def logout(request: Request, rt: Rt, csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> Response:
    require_csrf_header(csrf)
    await end_cookie_session(request, rt)
    response = Response(status_code=204)
    clear_session_cookie(response, secure=request_is_https(request))
    return response
