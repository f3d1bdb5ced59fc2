"""Open311 errors: the spec's {code, description} list in JSON or XML, for every error under /open311."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.open311_xml import errors_xml
from shared.http import ApiError


class Open311Error(Exception):
    """An Open311 error: 400 (bad request), 403 (api_key), 404 (not found) or 429 (rate limit)."""

    def __init__(self, status: int, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers


def _error_response(request: Request, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's error list, in the format the path asks for; 400, 403, 404 (413 and 429 stay)."""
    code = status if status in {400, 403, 404, 413, 429} else (403 if status == 401 else 400)
    if request.url.path.endswith(".xml"):
        body = errors_xml([(code, description)])
        return Response(body, status_code=code, media_type="text/xml; charset=utf-8", headers=headers)
    return JSONResponse([{"code": code, "description": description}], status_code=code, headers=headers)


Handler = Callable[[Request, Any], Awaitable[Response]]


def install_error_handlers(app: FastAPI) -> None:
    """Under /open311 errors take the spec's shape; elsewhere the native handlers keep theirs."""

    async def open311(request: Request, exc: Open311Error) -> Response:
        return _error_response(request, exc.status, exc.description, exc.headers)

    app.add_exception_handler(Open311Error, open311)  # type: ignore[arg-type]

    def scoped(native: Handler, describe: Callable[[Any], tuple[int, str]]) -> Handler:
        async def handler(request: Request, exc: Any) -> Response:
            if request.url.path.startswith("/open311"):
                status, description = describe(exc)
                return _error_response(request, status, description)
            return await native(request, exc)

        return handler

    def _validation(exc: RequestValidationError) -> tuple[int, str]:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return 400, "; ".join(parts)

    describers: dict[type[Exception], Callable[[Any], tuple[int, str]]] = {
        RequestValidationError: _validation,
        StarletteHTTPException: lambda exc: (exc.status_code, str(exc.detail)),
        ApiError: lambda exc: (exc.status, exc.message),
    }
    for exc_type, describe in describers.items():
        native = app.exception_handlers[exc_type]
        app.add_exception_handler(exc_type, scoped(native, describe))  # type: ignore[arg-type]
