"""Open311 requests as the spec sends them: a POST form checked into a Need, the list filters. No I/O.

Every error is an Open311Error (400) whose description names the spec's field.
"""

from __future__ import annotations

import re

from services.intake.need import Need, check_category, resolve_place
from services.intake.open311 import format as fmt
from services.intake.open311.errors import Open311Error
from services.intake.text_rules import FieldError, check_lat_lon, clean_description, clean_text
from shared.catalogue import Catalogue
from shared.text import clean_text as clean_free_text

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


def bad(exc: FieldError, rename: dict[str, str] | None = None) -> Open311Error:
    field = (rename or {}).get(exc.field, exc.field)
    return Open311Error(400, f"{field}: {exc.message}")


def one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


def _contact(form: dict[str, list[str]]) -> dict[str, str]:
    contact: dict[str, str] = {}
    for name, limit in _CONTACT_FIELDS.items():
        value = one(form, name)
        if value is None:
            continue
        try:
            contact[name] = clean_text(value, field=name, max_len=limit)
        except FieldError as exc:
            raise bad(exc) from None
    if "phone" in contact and not _PHONE.match(contact["phone"]):
        raise Open311Error(400, "phone: digits, spaces and + - ( ) only")
    if "email" in contact and "@" not in contact["email"]:
        raise Open311Error(400, "email: not an e-mail address")
    return contact


def clean_field(name: str, value: str) -> str:
    """Every form field through the one cleaning rule of every service (shared/text.py)."""
    try:
        return clean_free_text(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name[:100]}: {exc}") from None


def need_from_form(
    form: dict[str, list[str]], pairs: list[tuple[str, str]], catalogue: Catalogue, *, max_distance_m: float
) -> Need:
    """Check a POST requests form against the spec and the catalogue; Open311Error (400) names the field."""
    code = one(form, "service_code")
    if code is None:
        raise Open311Error(400, "service_code: required")
    try:
        check_category(catalogue, code, field_name="service_code")
    except FieldError as exc:
        raise bad(exc) from None
    category = catalogue.category(code)
    assert category is not None
    try:
        point = check_lat_lon(one(form, "lat"), one(form, "long"))
    except FieldError as exc:
        raise bad(exc, {"lon": "long"}) from None
    address = one(form, "address_string")
    address_id = one(form, "address_id")
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
            max_distance_m=max_distance_m,
        )
    except FieldError as exc:
        rename = {"community": "address_string", "lat": "lat"}
        raise bad(exc, rename) from None
    media_url = one(form, "media_url")
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


def codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    codes = [c.strip() for c in value.split(",") if c.strip()]
    return codes or None


def whole_number(value: str | None, name: str, default: int, maximum: int | None = None) -> int:
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
