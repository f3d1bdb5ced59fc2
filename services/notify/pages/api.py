"""Serves the street office's dashboard: plain HTML, JS and CSS from `dashboard/`, no build step.

Every file leaves with a strict Content-Security-Policy (scripts and styles from this origin only,
no inline script, connections to this origin and the configured sla only, never framed).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from services.notify.deps import Rt
from services.notify.session import api as session_api
from shared.http import ApiError

router = APIRouter(tags=["dashboard"])
router.include_router(session_api.router)
ASSETS = Path(__file__).parent.parent / "dashboard"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def content_security_policy(sla_origin: str) -> str:
    """The dashboard's policy: nothing inline, nothing from elsewhere, talking only to notify and sla."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {sla_origin}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


def security_headers(rt: Rt) -> dict[str, str]:
    """Headers every dashboard response carries."""
    return {
        "Content-Security-Policy": content_security_policy(rt.settings.dashboard_sla_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


@router.get("/dashboard", include_in_schema=False)
async def dashboard(rt: Rt) -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers=security_headers(rt))


@router.get("/dashboard/{name}", include_in_schema=False)
async def asset(name: str, rt: Rt) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no dashboard file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=security_headers(rt))


@router.get("/", include_in_schema=False)
async def root(rt: Rt) -> RedirectResponse:
    return RedirectResponse("/dashboard", headers=security_headers(rt))
