"""Near-duplicate detection: same category, near place, short window. Pure logic, no I/O."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius; haversine error vs WGS84 is < 0.5 %

# Address text compares after dropping whitespace and punctuation, so "3号楼 2单元",
# "3号楼,2单元" and "3号楼2单元" agree, while the numbers and words themselves must match.
_ADDRESS_NOISE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class OpenCase:
    """An open case that a new need may duplicate."""

    case_id: str
    category: str
    lat: float | None
    lon: float | None
    community: str
    submitted_at: datetime
    address: str | None = None


class BoundingBox(NamedTuple):
    """Degrees; a plain 4-tuple for SQL `lat BETWEEN min_lat AND max_lat AND lon BETWEEN ...`."""

    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    # min() guards asin against 1.0000000000000002 from rounding at antipodes.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def bounding_box(lat: float, lon: float, radius_m: float) -> BoundingBox:
    """Smallest lat/lon box holding every point within radius_m (for an index prefilter)."""
    if radius_m < 0:
        raise ValueError(f"radius_m must be >= 0, got {radius_m}")
    delta = radius_m / EARTH_RADIUS_M  # angular radius
    # A hair of slack so points exactly on the circle survive float rounding in SQL.
    eps = 1e-9
    lat_r = math.radians(lat)
    min_lat, max_lat = lat_r - delta, lat_r + delta
    if min_lat <= -math.pi / 2 or max_lat >= math.pi / 2:
        # The circle contains a pole: every longitude is inside.
        return BoundingBox(
            max(-90.0, math.degrees(min_lat) - eps), -180.0,
            min(90.0, math.degrees(max_lat) + eps), 180.0,
        )  # fmt: skip
    # Exact longitude half-width of a spherical cap (tangent meridians), not radius/cos(lat),
    # which under-covers at high latitudes.
    dlon = math.degrees(math.asin(min(1.0, math.sin(delta) / math.cos(lat_r))))
    min_lon, max_lon = lon - dlon - eps, lon + dlon + eps
    if min_lon < -180.0 or max_lon > 180.0:
        # Crossing the antimeridian cannot be expressed as one BETWEEN; widen to all longitudes
        # (correct, merely a weaker prefilter — and nowhere near any lastmeter city).
        min_lon, max_lon = -180.0, 180.0
    return BoundingBox(math.degrees(min_lat) - eps, min_lon, math.degrees(max_lat) + eps, max_lon)


def normalise_place(text: str | None) -> str:
    """Comparable form of a community name or address text ('' when absent)."""
    if not text:
        return ""
    return _ADDRESS_NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


def find_duplicate(
    *,
    category: str,
    lat: float | None,
    lon: float | None,
    community: str,
    at: datetime,
    radius_m: float,
    window: timedelta,
    open_cases: Iterable[OpenCase],
    address: str | None = None,
) -> OpenCase | None:
    """The open case this need duplicates, or None.

    A case matches when it has the same category, was submitted in [at - window, at], and:
    - both sides have coordinates: it lies within radius_m (coordinates decide; a matching
      address text far away is a data-entry error, not a duplicate); or
    - either side lacks coordinates: same community AND same normalised address text, both
      non-empty. Community alone is far too coarse (5,000 households) to merge needs, and
      merging wrongly hides a need, while a missed duplicate only costs one extra case.
    Ranking: coordinate matches before address-only ones (a measured distance is firmer than
    free text), then nearest, then earliest submitted, then case_id for determinism.
    A half-given point (lat without lon) counts as no coordinates. Datetimes must be aware.
    """
    if radius_m < 0:
        raise ValueError(f"radius_m must be >= 0, got {radius_m}")
    if window < timedelta(0):
        raise ValueError(f"window must be >= 0, got {window}")
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    earliest = at - window
    point = (lat, lon) if lat is not None and lon is not None else None
    box = bounding_box(lat, lon, radius_m) if lat is not None and lon is not None else None
    want_community = normalise_place(community)
    want_address = normalise_place(address)

    best: OpenCase | None = None
    best_key: tuple[int, float, datetime, str] | None = None
    for case in open_cases:
        if case.category != category or not earliest <= case.submitted_at <= at:
            continue
        if point is not None and box is not None and case.lat is not None and case.lon is not None:
            # Cheap box test first: most open cases of a category are far away.
            if not (box.min_lat <= case.lat <= box.max_lat):
                continue
            if not (box.min_lon <= case.lon <= box.max_lon):
                continue
            dist = distance_m(point[0], point[1], case.lat, case.lon)
            if dist > radius_m:
                continue
            key: tuple[int, float, datetime, str] = (0, dist, case.submitted_at, case.case_id)
        else:
            if not want_address or not want_community:
                continue
            if normalise_place(case.community) != want_community:
                continue
            if normalise_place(case.address) != want_address:
                continue
            key = (1, 0.0, case.submitted_at, case.case_id)
        if best_key is None or key < best_key:
            best, best_key = case, key
    return best
