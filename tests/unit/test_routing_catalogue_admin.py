"""Catalogue change bodies and summaries (pure parts of the admin API)."""

from __future__ import annotations

import copy

import orjson
import pytest
import yaml

from services.routing.catalogue.api import parse_body
from services.routing.catalogue.changes import same_content, summarise
from shared.catalogue import Catalogue, parse_catalogue
from shared.http import ApiError


def test_json_and_yaml_bodies(catalogue: Catalogue) -> None:
    data = catalogue.to_dict()
    assert parse_body(orjson.dumps(data), "application/json; charset=utf-8") == data
    assert parse_body(yaml.safe_dump(data, allow_unicode=True).encode(), "application/yaml")["name"] == data["name"]
    assert parse_body(b"version: 1\nname: x\n", "")["name"] == "x"  # no content type: YAML


@pytest.mark.parametrize(
    ("raw", "media", "status", "field"),
    [
        (b"{not json", "application/json", 422, "(body)"),
        (b"a: [1,\n", "text/yaml", 422, "(body)"),
        (b"a: 1\na: 2\n", "text/yaml", 422, "(body)"),  # duplicate key
        (b"- 1\n- 2\n", "text/yaml", 422, "(root)"),
        (b"\xff\xfe", "text/yaml", 422, "(body)"),
        (b"{}", "multipart/form-data", 415, "Content-Type"),
    ],
)
def test_bad_bodies(raw: bytes, media: str, status: int, field: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_body(raw, media)
    assert err.value.status == status
    assert err.value.fields[0]["field"] == field


def test_summary_names_added_removed_and_changed(catalogue: Catalogue) -> None:
    data = copy.deepcopy(catalogue.to_dict())
    data["version"] = 2
    data["teams"][0]["capacity"] = 30
    data["categories"] = [c for c in data["categories"] if c["code"] != "pothole"]
    data["departments"].append({**data["departments"][0], "code": "library", "name": "图书馆", "name_en": "Library"})
    new = parse_catalogue(data)
    assert summarise(catalogue, new) == {
        "departments": {"added": ["library"]},
        "teams": {"changed": ["veterans"]},
        "categories": {"removed": ["pothole"]},
    }
    assert not same_content(catalogue, new)
    assert same_content(catalogue, parse_catalogue({**catalogue.to_dict(), "version": 7}))
