"""Open311 GeoReport v2 under /open311/v2/, JSON or XML by suffix, errors as the spec's {code, description} list."""

from __future__ import annotations

import email.message
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.deps import Rt, deps_of, submission_refusal, uow_of
from services.intake.limits import is_staff
from services.intake.open311 import format as fmt
from services.intake.open311 import forms
from services.intake.open311.errors import Open311Error as Open311Error
from services.intake.open311.service_layer import create_request, list_requests, read_request, request_of_token
from services.intake.open311.xml import errors_xml, to_xml
from services.intake.text_rules import FieldError
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.events.status import CLOSED_STATUSES, OPEN_STATUSES
from shared.http import ApiError

PREFIX = "/open311/v2"
_READ_SUMMARY = (
    "Open311: {what}. Public: category, status, public note, community, location to ~200 m; "
    "a staff key in scope (Authorization: Bearer) sees description, address, exact place and staff notes"
)
router = APIRouter(prefix=PREFIX, tags=["open311"])
FORMATS = ("json", "xml")


def _format(value: str) -> str:
    if value not in FORMATS:
        raise Open311Error(404, f"unknown response format {value!r}; use .json or .xml")
    return value


def _respond(format_: str, root: str, item: str | None, items: list[dict[str, Any]], status: int = 200) -> Response:
    """A list (or, with item None, a single object) in the requested format."""
    if format_ == "xml":
        return Response(to_xml(root, item, items), status_code=status, media_type="text/xml; charset=utf-8")
    body = fmt.json_ready(items if item is not None else items[0])
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _zone(catalogue: Catalogue) -> ZoneInfo:
    return ZoneInfo(catalogue.timezone)


def _check_jurisdiction(rt: Rt, value: str | None) -> None:
    expected = rt.settings.open311_jurisdiction_id
    if value and value.strip() != expected:
        raise Open311Error(404, f"jurisdiction_id {value!r} not found; this endpoint serves {expected!r}")


@router.get("/services.{format_}", summary="Open311: the service list (catalogue categories)")
async def get_services(format_: str, rt: Rt, jurisdiction_id: str | None = None) -> Response:
    f = _format(format_)
    _check_jurisdiction(rt, jurisdiction_id)
    return _respond(f, "services", "service", fmt.services(rt.catalogue))


@router.get("/services/{service_code}.{format_}", summary="Open311: a service's attribute definitions")
async def get_service_definition(
    service_code: str, format_: str, rt: Rt, jurisdiction_id: str | None = None
) -> Response:
    f = _format(format_)
    _check_jurisdiction(rt, jurisdiction_id)
    category = rt.catalogue.category(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return _respond(f, "service_definition", None, [fmt.definition(category, xml=f == "xml")])


def _is_form(request: Request) -> bool:
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    return message.get_content_type() in {"application/x-www-form-urlencoded", "multipart/form-data"}


@router.post("/requests.{format_}", summary="Open311: create a service request (form-encoded, api_key required)")
async def post_request(format_: str, request: Request, rt: Rt) -> Response:
    f = _format(format_)
    if not _is_form(request):
        got = request.headers.get("content-type") or "none"
        raise Open311Error(400, f"body must be form-encoded (application/x-www-form-urlencoded), got {got}")
    if "api_key" in request.query_params:
        raise Open311Error(400, "api_key: send it in the form body, never in the URL (logs keep URLs)")
    multi = await request.form()
    raw = [(k, v) for k, v in multi.multi_items() if isinstance(v, str)]
    api_key = next((v.strip() for k, v in raw if k == "api_key" and v.strip()), None)
    principal = await rt.keys.authenticate(api_key) if api_key is not None else None
    # First of all, before the key or the fields are judged: a bad request costs its sender a
    # token too, and guessing keys costs the guesser's address.
    refusal = submission_refusal(rt, request, principal)
    if refusal is not None:
        raise Open311Error(429, refusal.message(), headers=refusal.headers())
    pairs = [(k, forms.clean_field(k, v)) for k, v in raw]
    form: dict[str, list[str]] = {}
    for name, value in [*((k, forms.clean_field(k, v)) for k, v in request.query_params.multi_items()), *pairs]:
        form.setdefault(name, []).append(value)
    _check_jurisdiction(rt, forms.one(form, "jurisdiction_id"))
    if api_key is None:
        raise Open311Error(403, "api_key: required")
    if principal is None or principal.case_id is not None:
        raise Open311Error(403, "api_key: not a valid lastmeter API key")
    need = forms.need_from_form(form, pairs, rt.catalogue, max_distance_m=rt.settings.max_community_distance_m)
    outcome = await create_request(uow_of(rt), deps=deps_of(rt), need=need)
    notice = (
        f"已并入已有工单 / linked to open request {outcome.case_id} ({outcome.reporter_count} reports)"
        if outcome.linked
        else None
    )
    body = {
        "service_request_id": outcome.case_id,
        "token": outcome.submission_id,
        "service_notice": notice,
        "account_id": need.contact.get("account_id"),
    }
    return _respond(f, "service_requests", "request", [body])


async def _reader(rt: Rt, request: Request) -> Principal | None:
    """The staff caller of a read (`Authorization: Bearer`), None for the public; 403 for a bad key.

    Reads need no key (the spec's GET requests takes none), so a staff key comes in the header only:
    an `api_key` in a URL ends up in proxies' access logs and browser history.
    """
    if "api_key" in request.query_params:
        raise Open311Error(
            400, "api_key: never in a URL (logs keep it); reads are public, staff send 'Authorization: Bearer <key>'"
        )
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    principal = await rt.keys.authenticate(credential.strip())
    if principal is None:
        raise Open311Error(403, "Authorization: not a valid lastmeter API key")
    # A resident's token reads its own case on the native API; here it is the public.
    return principal if is_staff(principal) else None


def _in_scope(principal: Principal | None, row: Mapping[str, Any]) -> bool:
    """Whether a staff caller may see this case in full (its street, its assignee, or admin)."""
    if principal is None:
        return False
    kind, code = row["assignee_kind"], row["assignee_code"]
    return principal.can_see(
        case_id=row["case_id"],
        street=row["street"],
        department=code if kind == "department" else None,
        team=code if kind == "team" else None,
    )


@router.get("/requests.{format_}", summary=_READ_SUMMARY.format(what="service requests"))
async def get_requests(format_: str, request: Request, rt: Rt) -> Response:
    f = _format(format_)
    q = request.query_params
    _check_jurisdiction(rt, q.get("jurisdiction_id"))
    principal = await _reader(rt, request)
    settings = rt.settings
    page = forms.whole_number(q.get("page"), "page", 1)
    size = forms.whole_number(
        q.get("page_size"), "page_size", settings.open311_page_size, settings.open311_max_page_size
    )
    limit, offset = size, (page - 1) * size
    catalogue = rt.catalogue
    ids = forms.codes(q.get("service_request_id"))
    if ids is not None:
        rows = await list_requests(uow_of(rt), case_ids=ids, limit=limit, offset=offset)
    else:
        codes = forms.codes(q.get("service_code"))
        for code in codes or []:
            if catalogue.category(code) is None:
                raise Open311Error(400, f"service_code: unknown service {code!r}")
        wanted = forms.codes(q.get("status"))
        statuses: set[str] | None = None
        for value in wanted or []:
            if value not in {"open", "closed"}:
                raise Open311Error(400, f"status: must be open or closed, got {value!r}")
            statuses = (statuses or set()) | (OPEN_STATUSES if value == "open" else CLOSED_STATUSES)
        try:
            start, end = fmt.date_window(
                q.get("start_date"), q.get("end_date"), now=rt.clock.now(), zone=_zone(catalogue)
            )
        except FieldError as exc:
            raise forms.bad(exc) from None
        rows = await list_requests(
            uow_of(rt),
            categories=codes,
            start=start,
            end=end,
            statuses=sorted(statuses) if statuses is not None else None,
            limit=limit,
            offset=offset,
        )
    zone = _zone(catalogue)
    items = [fmt.service_request(r, catalogue, zone, staff=_in_scope(principal, r)) for r in rows]
    return _respond(f, "service_requests", "request", items)


@router.get("/requests/{service_request_id}.{format_}", summary=_READ_SUMMARY.format(what="one service request"))
async def get_request(
    service_request_id: str, format_: str, request: Request, rt: Rt, jurisdiction_id: str | None = None
) -> Response:
    f = _format(format_)
    _check_jurisdiction(rt, jurisdiction_id)
    principal = await _reader(rt, request)
    row = await read_request(uow_of(rt), case_id=service_request_id)
    if row is None:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    zone = _zone(rt.catalogue)
    item = fmt.service_request(row, rt.catalogue, zone, staff=_in_scope(principal, row))
    return _respond(f, "service_requests", "request", [item])


@router.get("/tokens/{token}.{format_}", summary="Open311: the service request id behind a token")
async def get_token(token: str, format_: str, rt: Rt, jurisdiction_id: str | None = None) -> Response:
    f = _format(format_)
    _check_jurisdiction(rt, jurisdiction_id)
    case_id = await request_of_token(uow_of(rt), token=token)
    if case_id is None:
        raise Open311Error(404, f"token {token!r} not found")
    return _respond(f, "service_requests", "request", [{"service_request_id": case_id, "token": token}])


def _error_response(request: Request, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's error list, in the format the path asks for; 400, 403, 404 (413 and 429 stay)."""
    code = status if status in {400, 403, 404, 413, 429} else (403 if status == 401 else 400)
    if request.url.path.endswith(".xml"):
        body = errors_xml([(code, description)])
        return Response(body, status_code=code, media_type="text/xml; charset=utf-8", headers=headers)
    return JSONResponse([{"code": code, "description": description}], status_code=code, headers=headers)


# Starlette calls a handler with the exception it was registered for, typed as any Exception.
Handler = Callable[[Request, Exception], Awaitable[Response]]
# What the app already holds for a type (Starlette allows plain functions too).
NativeHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def install_error_handlers(app: FastAPI) -> None:
    """Under /open311 errors take the spec's shape; elsewhere the native handlers keep theirs."""

    async def open311(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, Open311Error):  # registered for Open311Error only
            raise exc
        return _error_response(request, exc.status, exc.description, exc.headers)

    app.add_exception_handler(Open311Error, open311)

    def scoped(native: NativeHandler, describe: Callable[[Any], tuple[int, str]]) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            if request.url.path.startswith("/open311"):
                status, description = describe(exc)
                return _error_response(request, status, description)
            answer = native(request, exc)
            return await answer if inspect.isawaitable(answer) else answer

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
        app.add_exception_handler(exc_type, scoped(native, describe))
