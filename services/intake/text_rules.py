"""Field checks shared by the native intake API, Open311 and survey import."""

from __future__ import annotations

import math
import re
import unicodedata

from shared.text import clean_text as clean_free_text

MAX_DESCRIPTION_LEN = 4000  # Open311 GeoReport v2 caps description at 4,000 characters

_NEWLINES = re.compile(r"\r\n?")


class FieldError(ValueError):
    """A bad input field; `field` names it so the API can answer a 4xx naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def clean_text(value: str, *, field: str, max_len: int, multiline: bool = False) -> str:
    """NFC-normalise and strip `value`; raise FieldError when empty, too long or with controls."""
    # HTML forms submit textarea line breaks as CRLF (WHATWG), so CR is folded, not rejected.
    text = _NEWLINES.sub("\n", value)
    try:
        text = clean_free_text(text)  # the one rule of every service: controls refused, bidi stripped
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None
    if not multiline and ("\n" in text or "\t" in text):
        found = "U+000A" if "\n" in text else "U+0009"
        raise FieldError(field, f"must be one line: must not contain control characters (found {found})")
    # NFC so that the same text typed on different keyboards compares and dedupes equal.
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise FieldError(field, "must not be empty or whitespace only")
    if len(text) > max_len:
        raise FieldError(field, f"must be at most {max_len} characters (got {len(text)})")
    return text


def clean_description(value: str, *, max_len: int = MAX_DESCRIPTION_LEN) -> str:
    """Return the NFC-normalised, stripped description or raise ValueError saying why not."""
    if not isinstance(value, str):
        raise FieldError("description", "must be a string")
    return clean_text(value, field="description", max_len=max_len, multiline=True)


def _coordinate(value: float | int | str | None, field: str, limit: float) -> float | None:
    """Parse one coordinate; None or blank means absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):  # bool is an int subclass; True is not a latitude
        raise FieldError(field, "must be a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise FieldError(field, f"must be a decimal number, got {value!r}") from None
    if not math.isfinite(number):
        raise FieldError(field, "must be a finite number")
    if not -limit <= number <= limit:
        raise FieldError(field, f"must be between -{limit:g} and {limit:g}, got {number:g}")
    return number


def check_lat_lon(lat: float | int | str | None, lon: float | int | str | None) -> tuple[float, float] | None:
    """Validate a WGS84 point: both or neither; returns (lat, lon) or None when absent."""
    la = _coordinate(lat, "lat", 90.0)
    lo = _coordinate(lon, "lon", 180.0)
    if la is None and lo is None:
        return None
    if la is None or lo is None:
        missing = "lat" if la is None else "lon"
        raise FieldError(missing, "lat and lon must be given together")
    # Phones without a fix send 0,0 ("null island"); no community lies there, so it is an error
    # rather than a location that would wreck routing and duplicate detection.
    if la == 0.0 and lo == 0.0:
        raise FieldError("lat", "0,0 is not a real location (no GPS fix?)")
    return la, lo
