"""Open311 GeoReport v2 shapes: services, definitions, service requests, attribute and date checks. No I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.intake.open311.xml import Nested
from services.intake.text_rules import FieldError
from shared.catalogue import Catalogue, Category
from shared.events.status import open311_status

MAX_RANGE = timedelta(days=90)
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")


def service(category: Category, catalogue: Catalogue) -> dict[str, Any]:
    """One entry of GET services, in the spec's field order."""
    sla = catalogue.sla_class(category.sla_class)
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.name_en,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ",".join((*category.keywords.zh, *category.keywords.en)),
        "group": sla.name_en if sla else category.sla_class,
    }


def services(catalogue: Catalogue) -> list[dict[str, Any]]:
    """GET services: every category of the catalogue."""
    return [service(c, catalogue) for c in catalogue.categories]


def definition(category: Category, *, xml: bool) -> dict[str, Any]:
    """GET services/{code}: the attribute definitions (XML nests lists as wrapper + item elements)."""
    attributes = []
    for a in sorted(category.attributes, key=lambda a: (a.order, a.code)):
        values = [{"key": v.key, "name": v.name} for v in a.values]
        attributes.append(
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
                "values": Nested("values", "value", values) if xml else values,
            }
        )
    return {
        "service_code": category.code,
        "attributes": Nested("attributes", "attribute", attributes) if xml else attributes,
    }


def split_attributes(form: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """`attribute[code]=v` and `attribute[code][]=v` form pairs → {code: [values]}."""
    found: dict[str, list[str]] = {}
    for name, value in form:
        match = _ATTRIBUTE.match(name)
        if match:
            found.setdefault(match.group(1), []).append(value)
    return found


def check_attributes(category: Category, given: Mapping[str, list[str]]) -> dict[str, Any]:
    """Validate attribute answers against the service definition; FieldError names `attribute[code]`."""
    known = {a.code: a for a in category.attributes}
    out: dict[str, Any] = {}
    for code, values in given.items():
        field = f"attribute[{code}]"
        attribute = known.get(code)
        if attribute is None:
            valid = ", ".join(known) or "none"
            raise FieldError(field, f"service {category.code} has no attribute {code!r}; valid: {valid}")
        values = [v.strip() for v in values if v.strip()]
        if not values:
            continue
        if attribute.datatype != "multivaluelist" and len(values) > 1:
            raise FieldError(field, f"takes one value, got {len(values)}")
        keys = {v.key for v in attribute.values}
        if attribute.datatype.endswith("valuelist"):
            bad = [v for v in values if v not in keys]
            if bad:
                raise FieldError(field, f"{bad[0]!r} is not one of {', '.join(sorted(keys))}")
            out[code] = values if attribute.datatype == "multivaluelist" else values[0]
        elif attribute.datatype == "number":
            try:
                number = float(values[0])
            except ValueError:
                raise FieldError(field, f"must be a number, got {values[0]!r}") from None
            if not math.isfinite(number):
                raise FieldError(field, "must be a finite number")
            out[code] = number
        elif attribute.datatype == "datetime":
            out[code] = parse_when(values[0], field, ZoneInfo("UTC")).isoformat()
        else:
            if len(values[0]) > 4000:
                raise FieldError(field, "must be at most 4000 characters")
            out[code] = values[0]
    missing = [a.code for a in category.attributes if a.required and a.code not in out]
    if missing:
        raise FieldError(f"attribute[{missing[0]}]", "is required for this service")
    return out


def parse_when(text: str, field: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 date or date-time; without a zone it is local time of the catalogue."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in raw else raw)
    except ValueError:
        raise FieldError(
            field, f"must be an ISO 8601 date-time such as 2026-05-01T10:00:00+08:00, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def date_window(
    start_text: str | None, end_text: str | None, *, now: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """The GET requests window: at most 90 days, start before end, default the last 90 days."""
    start = parse_when(start_text, "start_date", zone) if start_text else None
    end = parse_when(end_text, "end_date", zone) if end_text else None
    if start is None and end is None:
        return now - MAX_RANGE, now
    if start is None:
        assert end is not None
        return end - MAX_RANGE, end
    if end is None:
        return start, start + MAX_RANGE
    if start > end:
        raise FieldError("start_date", "must not be after end_date")
    if end - start > MAX_RANGE:
        raise FieldError("end_date", "start_date and end_date may be at most 90 days apart")
    return start, end


def _utc(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Times go out in the catalogue's zone (ISO 8601 with offset, as the spec wants)."""
    return value.astimezone(zone) if value is not None else None


def agency(catalogue: Catalogue, kind: str | None, code: str | None) -> str | None:
    """The name of the responsible department, team or street office."""
    if not kind or not code:
        return None
    found = {"department": catalogue.department, "team": catalogue.team, "street_office": catalogue.street}[kind](code)
    return found.name if found else code


# Public reads place a case only to the centre of a cell this many degrees on a side: 0.002° is
# about 220 m north-south and 170 m east-west at Tianjin's latitude, a block rather than a home.
PUBLIC_GRID_DEGREES = 0.002


def coarsen(value: float | None, grid: float = PUBLIC_GRID_DEGREES) -> float | None:
    """A coordinate snapped to the centre of its grid cell (the same cell always gives the same point)."""
    if value is None:
        return None
    return round((math.floor(value / grid) + 0.5) * grid, 6)


def service_request(
    row: Mapping[str, Any], catalogue: Catalogue, zone: ZoneInfo, *, staff: bool = False
) -> dict[str, Any]:
    """One service request in the spec's field order, then lastmeter's `community`; never contact data.

    The public sees what a public 311 feed shows: the category, status, a note staff marked public,
    the community and a coarse location. A resident's own words (`description`, which often holds
    names and phone numbers), the address, the photo and staff notes are for staff in scope
    (`staff`). A vulnerable (paired, empty-nest) resident's case shows no place and no note at all
    publicly, not even a coarse one: where an old person lives alone must not be published.
    """
    category = catalogue.category(row["category"]) if row["category"] else None
    private = bool(row["vulnerable"]) and not staff
    count = row["reporter_count"]
    lat, lon = (row["lat"], row["lon"]) if staff else (coarsen(row["lat"]), coarsen(row["lon"]))
    return {
        "service_request_id": row["case_id"],
        "status": open311_status(row["status"]),
        "status_notes": row["status_note"] if staff else (None if private else row["public_note"]),
        "service_name": category.name if category else None,
        "service_code": row["category"],
        "description": row["description"] if staff else None,
        "agency_responsible": agency(catalogue, row["assignee_kind"], row["assignee_code"]),
        "service_notice": f"{count} residents reported this" if count > 1 else None,
        "requested_datetime": _utc(row["submitted_at"], zone),
        "updated_datetime": _utc(row["updated_at"], zone),
        "expected_datetime": _utc(row["expected_at"], zone),
        "address": row["address"] if staff else None,
        "address_id": row["address_id"] if staff else None,
        "zipcode": None,
        "lat": None if private else lat,
        "long": None if private else lon,
        "media_url": row["media_url"] if staff else None,
        "community": row["community"],
    }


def json_ready(items: Any) -> Any:
    """Datetimes → ISO 8601 strings for JSON output."""
    if isinstance(items, list):
        return [json_ready(i) for i in items]
    if isinstance(items, dict):
        return {k: json_ready(v) for k, v in items.items()}
    if isinstance(items, datetime):
        return items.isoformat()
    return items
