"""What every service's HTTP side shares: errors that name the field, body limits, health, auth."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal, Role
from shared.errors import DomainError, RateLimited, http_status
from shared.retry import is_transient
from shared.session import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, verify_session

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """A client error with a stable code, a message for people and the fields at fault."""

    def __init__(
        self, status: int, code: str, message: str, *, fields: list[dict[str, str]] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


def field_error(field: str, message: str, *, status: int = 422, **extra: Any) -> ApiError:
    """A 422 naming one field."""
    return ApiError(
        status, "validation_failed", f"{field}: {message}", fields=[{"field": field, "message": message}], **extra
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "form"}:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def api_error_of(exc: DomainError) -> ApiError:
    """The ApiError a domain error answers as (same body keys as a hand-raised ApiError)."""
    return ApiError(http_status(exc), exc.code, exc.message, fields=exc.fields, **exc.extra)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as JSON `{error, message, fields?}`; nothing unexpected leaks as HTML."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        # Rendered by whatever ApiError handler the app has now, so a router's own error format
        # (intake's Open311 scope wraps it for /open311) applies to domain errors too.
        render = app.exception_handlers[ApiError]
        rendered = render(request, api_error_of(exc))
        response = await rendered if inspect.isawaitable(rendered) else rendered
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            message = err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                message = f"body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
            fields.append({"field": _field_name(tuple(err.get("loc", ()))), "message": message})
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse({"error": "validation_failed", "message": summary, "fields": fields}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            # The database or broker is restarting: tell clients to retry rather than report a fault.
            log.warning("dependency unavailable", error=f"{type(exc).__name__}: {exc}")
            return JSONResponse(
                {"error": "unavailable", "message": "a dependency is briefly unavailable; retry shortly"},
                status_code=503,
                headers={"Retry-After": "2"},
            )
        log.error("unhandled error", exc_info=exc)
        return JSONResponse({"error": "internal", "message": "unexpected error; it has been logged"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed chunked."""

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        received = 0
        rejected = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 now and tell the app the client went away: frameworks turn an
                    # exception raised here into a generic 400, which would hide the reason.
                    rejected = True
                    if not response_started:
                        await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return  # we already answered 413; drop whatever the app says after the disconnect
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    message = f"request body is larger than the limit of {limit} bytes"
    body = f'{{"error":"payload_too_large","message":"{message}"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Bind a trace id to every log line of a request (from `X-Request-ID`, else a new one) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")[:64]
        trace_id = incoming or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(trace_id=trace_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("trace_id", "principal")


async def authenticate(request: Request) -> Principal:
    """The caller behind `Authorization: Bearer <key or token>` or the dashboard's session cookie; 401 without.

    Credentials never come from the URL: query strings end up in logs, histories and Referer headers.
    """
    runtime = request.app.state.runtime
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        principal: Principal | None = await runtime.keys.authenticate(credential.strip())
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "unknown, expired or revoked API key or access token",
                fields=[{"field": "Authorization", "message": "not a valid key or token"}],
            )
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = await _session_principal(request, runtime, cookie)
    else:
        raise ApiError(
            401,
            "unauthorized",
            "missing credentials: send 'Authorization: Bearer <key>' or log in to the dashboard",
            fields=[{"field": "Authorization", "message": "missing"}],
        )
    structlog.contextvars.bind_contextvars(principal=principal.name or principal.role)
    return principal


async def _session_principal(request: Request, runtime: Any, cookie: str) -> Principal:
    """The principal of a session cookie; unsafe methods must also carry the CSRF header."""
    now = runtime.clock.now().timestamp()
    session = verify_session(cookie, secret=runtime.settings.token_secret.get_secret_value(), now=now)
    if session is None:
        raise ApiError(
            401,
            "unauthorized",
            "the session has expired or is not valid: log in again",
            fields=[{"field": SESSION_COOKIE, "message": "expired or not valid"}],
        )
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        raise ApiError(
            403,
            "forbidden",
            f"a request authenticated by the session cookie must send the header '{CSRF_HEADER}: 1'",
            fields=[{"field": CSRF_HEADER, "message": "missing"}],
        )
    principal: Principal | None = await runtime.keys.principal_for_key_id(session.key_id)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "the key of this session is expired or revoked",
            fields=[{"field": SESSION_COOKIE, "message": "its key is no longer valid"}],
        )
    if not await runtime.keys.session_is_live(session.session_id):
        raise ApiError(
            401,
            "unauthorized",
            "this session has ended (logged out or expired): log in again",
            fields=[{"field": SESSION_COOKIE, "message": "ended"}],
        )
    request.state.session = session
    return principal


async def end_cookie_session(request: Request, runtime: Any) -> None:
    """Log out server-side: the session row of the request's cookie (if it holds a valid one) ends."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return
    now = runtime.clock.now().timestamp()
    session = verify_session(cookie, secret=runtime.settings.token_secret.get_secret_value(), now=now)
    if session is not None:
        await runtime.keys.end_session(session.session_id)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Any:
    """A dependency that admits only the given roles (admin always passes)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise ApiError(403, "forbidden", f"this action needs one of the roles: {', '.join(roles)}")
        return principal

    return Depends(_check)


def require_csrf_header(value: str | None) -> None:
    """403 naming the header unless a cookie-authenticated change carries `X-Lastmeter-CSRF: 1`."""
    if value != "1":
        raise ApiError(
            403,
            "forbidden",
            f"send the header '{CSRF_HEADER}: 1' with this request",
            fields=[{"field": CSRF_HEADER, "message": "missing"}],
        )


def request_is_https(request: Request, configured: bool | None = None) -> bool:
    """Whether the browser reached us over TLS (directly or through a proxy saying so), unless configured."""
    if configured is not None:
        return configured
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(response: Response, value: str, *, max_age: int, secure: bool) -> None:
    """The one session cookie every page uses: HttpOnly, SameSite=Strict, the whole site, never cached."""
    response.set_cookie(
        SESSION_COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )
    response.headers["Cache-Control"] = "no-store"


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    """Log out: the browser forgets the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
