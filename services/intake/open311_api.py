"""Open311 GeoReport v2 under /open311/v2/, JSON or XML by suffix, errors as the spec's {code, description} list."""

from __future__ import annotations

import email.message
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.intake import open311_format as fmt
from services.intake import store
from services.intake.deps import Rt, deps_of, submission_refusal
from services.intake.limits import is_staff
from services.intake.need import Need, check_category, resolve_place
from services.intake.open311_errors import Open311Error as Open311Error
from services.intake.open311_xml import to_xml
from services.intake.service_layer import accept_one
from services.intake.text_rules import FieldError, check_lat_lon, clean_description, clean_text
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.events.status import CLOSED_STATUSES, OPEN_STATUSES
from shared.text import clean_text as clean_free_text

PREFIX = "/open311/v2"
_READ_SUMMARY = (
    "Open311: {what}. Public: category, status, public note, community, location to ~200 m; "
    "a staff key in scope (Authorization: Bearer) sees description, address, exact place and staff notes"
)
router = APIRouter(prefix=PREFIX, tags=["open311"])
FORMATS = ("json", "xml")
_URL = re.compile(r"^https?://[^\s]{1,2000}$")
_PHONE = re.compile(r"^[0-9+\-() ]{3,40}$")
_CONTACT_FIELDS = {
    "email": 254,
    "device_id": 100,
    "account_id": 100,
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
}


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


def _bad(exc: FieldError, rename: dict[str, str] | None = None) -> Open311Error:
    field = (rename or {}).get(exc.field, exc.field)
    return Open311Error(400, f"{field}: {exc.message}")


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


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


def _contact(form: dict[str, list[str]]) -> dict[str, str]:
    contact: dict[str, str] = {}
    for name, limit in _CONTACT_FIELDS.items():
        value = _one(form, name)
        if value is None:
            continue
        try:
            contact[name] = clean_text(value, field=name, max_len=limit)
        except FieldError as exc:
            raise _bad(exc) from None
    if "phone" in contact and not _PHONE.match(contact["phone"]):
        raise Open311Error(400, "phone: digits, spaces and + - ( ) only")
    if "email" in contact and "@" not in contact["email"]:
        raise Open311Error(400, "email: not an e-mail address")
    return contact


def _clean_field(name: str, value: str) -> str:
    """Every form field through the one cleaning rule of every service (shared/text.py)."""
    try:
        return clean_free_text(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name[:100]}: {exc}") from None


def need_from_form(form: dict[str, list[str]], pairs: list[tuple[str, str]], rt: Rt) -> Need:
    """Check a POST requests form against the spec and the catalogue; Open311Error (400) names the field."""
    catalogue = rt.catalogue
    code = _one(form, "service_code")
    if code is None:
        raise Open311Error(400, "service_code: required")
    try:
        check_category(catalogue, code, field_name="service_code")
    except FieldError as exc:
        raise _bad(exc) from None
    category = catalogue.category(code)
    assert category is not None
    try:
        point = check_lat_lon(_one(form, "lat"), _one(form, "long"))
    except FieldError as exc:
        raise _bad(exc, {"lon": "long"}) from None
    address = _one(form, "address_string")
    address_id = _one(form, "address_id")
    if point is None and address is None and address_id is None:
        raise Open311Error(400, "location: give lat and long, address_string or address_id")
    raw_description = form.get("description")
    try:
        description = clean_description(raw_description[0]) if raw_description else category.name
        if address is not None:
            address = clean_text(address, field="address_string", max_len=500)
        attributes = fmt.check_attributes(category, fmt.split_attributes(pairs))
        lat, lon = point if point else (None, None)
        # address_id may name a grid or community code; anything else cannot be placed.
        grid = address_id if address_id and catalogue.community_of_grid(address_id) else None
        community_code = address_id if address_id and catalogue.community(address_id) else None
        community, grid_code = resolve_place(
            catalogue,
            community=community_code,
            grid=grid,
            lat=lat,
            lon=lon,
            address=address,
            max_distance_m=rt.settings.max_community_distance_m,
        )
    except FieldError as exc:
        rename = {"community": "address_string", "lat": "lat"}
        raise _bad(exc, rename) from None
    media_url = _one(form, "media_url")
    if media_url is not None and not _URL.match(media_url):
        raise Open311Error(400, "media_url: must be an http(s) URL of at most 2,000 characters")
    return Need(
        description=description,
        community=community.code,
        street=community.street,
        category=code,
        grid=grid_code,
        lat=lat,
        lon=lon,
        address=address,
        address_id=address_id,
        reporter_kind="resident",
        contact=_contact(form),
        attributes=attributes,
        media_url=media_url,
        source="open311",
    )


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
    pairs = [(k, _clean_field(k, v)) for k, v in raw]
    form: dict[str, list[str]] = {}
    for name, value in [*((k, _clean_field(k, v)) for k, v in request.query_params.multi_items()), *pairs]:
        form.setdefault(name, []).append(value)
    _check_jurisdiction(rt, _one(form, "jurisdiction_id"))
    if api_key is None:
        raise Open311Error(403, "api_key: required")
    if principal is None or principal.case_id is not None:
        raise Open311Error(403, "api_key: not a valid lastmeter API key")
    need = need_from_form(form, pairs, rt)
    async with rt.pool.acquire() as conn, conn.transaction():
        outcome = await accept_one(conn, deps=deps_of(rt), need=need)
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


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    codes = [c.strip() for c in value.split(",") if c.strip()]
    return codes or None


def _int(value: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        raise Open311Error(400, f"{name}: must be a whole number, got {value!r}") from None
    if number < 1:
        raise Open311Error(400, f"{name}: must be at least 1")
    if maximum is not None and number > maximum:
        raise Open311Error(400, f"{name}: must be at most {maximum}")
    return number


@router.get("/requests.{format_}", summary=_READ_SUMMARY.format(what="service requests"))
async def get_requests(format_: str, request: Request, rt: Rt) -> Response:
    f = _format(format_)
    q = request.query_params
    _check_jurisdiction(rt, q.get("jurisdiction_id"))
    principal = await _reader(rt, request)
    settings = rt.settings
    page = _int(q.get("page"), "page", 1)
    size = _int(q.get("page_size"), "page_size", settings.open311_page_size, settings.open311_max_page_size)
    limit, offset = size, (page - 1) * size
    catalogue = rt.catalogue
    ids = _codes(q.get("service_request_id"))
    if ids is not None:
        rows = await store.list_cases(rt.pool, case_ids=ids, limit=limit, offset=offset)
    else:
        codes = _codes(q.get("service_code"))
        for code in codes or []:
            if catalogue.category(code) is None:
                raise Open311Error(400, f"service_code: unknown service {code!r}")
        wanted = _codes(q.get("status"))
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
            raise _bad(exc) from None
        rows = await store.list_cases(
            rt.pool,
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
    row = await store.get_case(rt.pool, case_id=service_request_id)
    if row is None:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    zone = _zone(rt.catalogue)
    item = fmt.service_request(row, rt.catalogue, zone, staff=_in_scope(principal, row))
    return _respond(f, "service_requests", "request", [item])


@router.get("/tokens/{token}.{format_}", summary="Open311: the service request id behind a token")
async def get_token(token: str, format_: str, rt: Rt, jurisdiction_id: str | None = None) -> Response:
    f = _format(format_)
    _check_jurisdiction(rt, jurisdiction_id)
    found = await store.get_submission(rt.pool, submission_id=token)
    if found is None:
        raise Open311Error(404, f"token {token!r} not found")
    return _respond(f, "service_requests", "request", [{"service_request_id": found["case_id"], "token": token}])
