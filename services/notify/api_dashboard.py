"""Serves the street office's dashboard: plain HTML, JS and CSS from `dashboard/`, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from shared.http import ApiError

router = APIRouter(tags=["dashboard"])
ASSETS = Path(__file__).parent / "dashboard"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no dashboard file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard")
