"""The bench's outputs: the table, the JSON document, the Markdown table, need bodies, the HTTP head parser."""

from __future__ import annotations

import json
import math

from bench.core import Figure
from bench.loadgen import _parse_head
from bench.needs import need, seq_of
from bench.report import fmt_value, markdown_table, table, to_json
from services.intake.needs.models import NeedIn

FIGURES = [
    Figure("limit: broker", 41234.5, "msg/s"),
    Figure("ratio", 0.42, "×", target="≥ 0.5", met=False, note="below"),
    Figure("measure_x: failed", math.nan, "", met=False, note="boom | bang"),
]


def test_table_lists_every_figure_with_its_target_and_verdict() -> None:
    text = table(FIGURES)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["figure", "value", "unit", "target", "met"]
    assert "41,234" in text
    assert "≥ 0.5" in text
    assert "NO" in text
    assert "—" in text  # a failed figure has no value


def test_json_writes_nan_as_null_and_keeps_metadata() -> None:
    doc = json.loads(to_json(FIGURES, meta={"mode": "quick"}))
    assert doc["mode"] == "quick"
    assert [f["value"] for f in doc["figures"]] == [41234.5, 0.42, None]
    assert doc["figures"][1]["met"] is False


def test_markdown_table_escapes_pipes() -> None:
    md = markdown_table(FIGURES)
    assert md.count("\n") == len(FIGURES) + 1
    assert "boom / bang" in md


def test_fmt_value() -> None:
    assert fmt_value(123456.7) == "123,457"
    assert fmt_value(12.345) == "12.35"
    assert fmt_value(0.01234) == "0.0123"


def test_bench_needs_are_valid_distinct_and_carry_their_number() -> None:
    bodies = [need(i) for i in range(2000)]
    for body in bodies[:50]:
        NeedIn.model_validate(body)
    assert len({(b["location"]["lat"], b["location"]["lon"]) for b in bodies}) == 2000  # type: ignore[index]
    assert seq_of(str(need(4711, tag="chaos1")["description"])) == 4711
    assert seq_of("no number here") is None


def test_a_full_bench_run_of_needs_never_repeats_a_place() -> None:
    # A full run submits about 250,000 needs; a repeated (category, place) would be linked as a duplicate.
    places = {(str(n["category"]), str(n["location"])) for n in map(need, range(250_000))}
    assert len(places) == 250_000


def test_http_head_parser() -> None:
    head = b"HTTP/1.1 202 Accepted\r\nContent-Length: 12\r\nconnection: close\r\n\r\n"
    assert _parse_head(head) == (202, 12, False, True)
    assert _parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == (200, 0, True, False)
