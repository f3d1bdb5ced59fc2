"""A need as every channel (native API, Open311, survey) hands it to the service layer, and its place checks.

Pure: reads only the catalogue passed in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.intake.duplicates import distance_m
from services.intake.text_rules import FieldError
from shared.catalogue import Catalogue, Community
from shared.events.intake import Priority, ReporterKind

# Beyond this distance from every community centre a point is outside the jurisdiction.
DEFAULT_MAX_COMMUNITY_DISTANCE_M = 3000.0
_SUFFIXES = ("社区居委会", "居委会", "社区", "community")
_NOISE = re.compile(r"[\s\W_]+")


@dataclass
class Need:
    """A checked need, ready for classification, duplicate linking and storage."""

    description: str
    community: str
    street: str
    category: str | None = None  # None: classify the description
    grid: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    address_id: str | None = None
    reporter_kind: ReporterKind = "resident"
    priority: Priority = "normal"
    vulnerable: bool = False
    pairing_id: str | None = None
    language: str = "zh"
    contact: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    media_url: str | None = None
    source: str = "api"
    reported_at: datetime | None = None


def _key(text: str) -> str:
    """Comparable form of a place name: NFKC, case-folded, without spaces, punctuation or 社区 suffix."""
    key = _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def find_community(catalogue: Catalogue, text: str) -> Community | None:
    """A community by code, Chinese or English name, with or without the 社区 suffix."""
    exact = catalogue.community(text.strip())
    if exact is not None:
        return exact
    wanted = _key(text)
    if not wanted:
        return None
    for community in catalogue.communities:
        if wanted in {_key(community.code), _key(community.name), _key(community.name_en)}:
            return community
    return None


def community_in_text(catalogue: Catalogue, text: str | None) -> Community | None:
    """The one community whose name appears in free text such as an address ('朝阳里3号楼')."""
    if not text:
        return None
    haystack = _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())
    found = [c for c in catalogue.communities if _key(c.name) and _key(c.name) in haystack]
    return found[0] if len(found) == 1 else None


def nearest_community(catalogue: Catalogue, lat: float, lon: float, max_distance_m: float) -> Community | None:
    """The community whose centre is nearest the point, if within max_distance_m."""
    best: tuple[float, Community] | None = None
    for community in catalogue.communities:
        dist = distance_m(lat, lon, community.center.lat, community.center.lon)
        if dist <= max_distance_m and (best is None or dist < best[0]):
            best = (dist, community)
    return best[1] if best else None


def _valid(codes: list[str]) -> str:
    return ", ".join(codes)


def resolve_place(
    catalogue: Catalogue,
    *,
    community: str | None,
    grid: str | None,
    lat: float | None,
    lon: float | None,
    address: str | None,
    max_distance_m: float = DEFAULT_MAX_COMMUNITY_DISTANCE_M,
) -> tuple[Community, str | None]:
    """The need's community and grid code, from whichever of them, the point or the address is given."""
    grid_code: str | None = None
    from_grid: Community | None = None
    if grid:
        from_grid = catalogue.community_of_grid(grid)
        if from_grid is None:
            # Grids are also known by name (金融街第一网格) in surveys and hotline notes.
            for c in catalogue.communities:
                for g in c.grids:
                    if _key(g.name) == _key(grid):
                        from_grid, grid = c, g.code
        if from_grid is None:
            valid = [g.code for c in catalogue.communities for g in c.grids]
            raise FieldError("grid", f"unknown grid {grid!r}; valid codes: {_valid(valid)}")
        grid_code = grid
    if community:
        found = find_community(catalogue, community)
        if found is None:
            valid = [c.code for c in catalogue.communities]
            raise FieldError("community", f"unknown community {community!r}; valid codes: {_valid(valid)}")
        if from_grid is not None and from_grid.code != found.code:
            raise FieldError("grid", f"grid {grid_code!r} belongs to community {from_grid.code!r}, not {found.code!r}")
        return found, grid_code
    if from_grid is not None:
        return from_grid, grid_code
    if lat is not None and lon is not None:
        near = nearest_community(catalogue, lat, lon, max_distance_m)
        if near is None:
            raise FieldError("lat", f"the point {lat:g},{lon:g} is outside every community this service covers")
        return near, None
    named = community_in_text(catalogue, address)
    if named is not None:
        return named, None
    raise FieldError("community", "required: give community, grid, or a location inside the jurisdiction")


def check_category(catalogue: Catalogue, code: str | None, *, field_name: str = "category") -> str | None:
    """The category code if known; FieldError listing the valid codes otherwise."""
    if code is None:
        return None
    if catalogue.category(code) is None:
        valid = [c.code for c in catalogue.categories]
        raise FieldError(field_name, f"unknown category {code!r}; valid codes: {_valid(valid)}")
    return code


def check_pairing(catalogue: Catalogue, pairing_id: str | None, community: str) -> str | None:
    """The pairing code if it exists in this community; FieldError otherwise."""
    if pairing_id is None:
        return None
    pairing = catalogue.pairing(pairing_id)
    if pairing is None:
        raise FieldError("pairing_id", f"unknown pairing {pairing_id!r}")
    if pairing.community != community:
        raise FieldError("pairing_id", f"pairing {pairing_id!r} belongs to community {pairing.community!r}")
    return pairing_id
