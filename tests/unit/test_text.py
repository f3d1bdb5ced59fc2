"""The one cleaning rule (shared/text.py) and the bodies that use it."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from services.intake.needs.models import NeedIn
from services.intake.text_rules import FieldError, clean_text
from services.routing.cases.models import ArbitrateIn, DeclineIn, NoteIn, PriorityIn, TriageIn
from shared.catalogue import Catalogue, CatalogueError, parse_catalogue
from shared.text import CleanModel, clean_any
from shared.text import clean_text as clean_free_text


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_controls_and_lone_surrogates_are_refused_naming_the_character(char: str) -> None:
    with pytest.raises(ValueError, match=f"control characters \\(found U\\+{ord(char):04X} at position 2\\)"):
        clean_free_text(f"ab{char}c")


def test_bidi_overrides_and_isolates_are_stripped_and_line_breaks_kept() -> None:
    assert clean_free_text("a\u202eb\u2066c\u2069\u202c") == "abc"
    assert clean_free_text("line 1\nline 2\ttab\r\n") == "line 1\nline 2\ttab\r\n"
    assert clean_free_text("路灯不亮") == "路灯不亮"


def test_clean_any_reaches_into_lists_and_dicts() -> None:
    assert clean_any({"k\u202e": ["a\u202eb", ("c",)]}) == {"k": ["ab", ("c",)]}
    with pytest.raises(ValueError, match="U\\+0000"):
        clean_any({"k": ["ok", "bad\x00"]})


def test_a_clean_model_names_the_field_at_fault() -> None:
    class Body(CleanModel):
        title: str
        tags: list[str] = Field(default_factory=list)

    with pytest.raises(ValidationError) as caught:
        Body(title="ok", tags=["fine", "x\x00"])
    assert caught.value.errors()[0]["loc"] == ("tags",)
    assert Body(title="a\u202eb").title == "ab"


def test_intake_fields_use_the_same_rule() -> None:
    assert clean_text(" 3号楼\u202e ", field="address", max_len=100) == "3号楼"
    with pytest.raises(FieldError, match="address: must not contain control characters"):
        clean_text("3号\x00楼", field="address", max_len=100)
    with pytest.raises(FieldError, match="must be one line"):
        clean_text("3号\n楼", field="address", max_len=100)
    with pytest.raises(ValidationError) as caught:
        NeedIn.model_validate({"description": "停水", "community": "g\x00"})
    assert caught.value.errors()[0]["loc"] == ("community",)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (NoteIn, {"note": "已\x00处理"}, "note"),
        (NoteIn, {"note": "ok", "public_note": "\x1b[31m"}, "public_note"),
        (DeclineIn, {"reason_code": "other", "reason_text": "\x00"}, "reason_text"),
        (PriorityIn, {"priority": "high", "note": "\x07"}, "note"),
        (ArbitrateIn, {"assignee": {"kind": "department", "code": "water"}, "note": "\x00"}, "note"),
        (TriageIn, {"category": "noise\x00"}, "category"),
    ],
)
def test_routing_bodies_use_the_same_rule(model: type[CleanModel], body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field


def test_catalogue_free_text_uses_the_same_rule(catalogue: Catalogue) -> None:
    data = catalogue.to_dict()
    data["categories"][0]["name"] = "路\x00灯"
    with pytest.raises(CatalogueError, match=r"categories\[0\]\.name: must not contain control characters"):
        parse_catalogue(data)
    data["categories"][0]["name"] = "路\u202e灯"
    assert parse_catalogue(data).categories[0].name == "路灯"
