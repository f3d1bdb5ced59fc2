"""Survey import on the real database: UTF-8, UTF-8 with BOM, GBK and XLSX; bad rows and bad files."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from openpyxl import Workbook

from shared.catalogue import Catalogue
from shared.topics import INTAKE_EVENTS
from tests.helpers import bearer, read_topic
from tests.integration.test_intake_needs import Stack, running_intake

HEADER = "序号,社区,网格,地址,问题描述,问题类别,纬度,经度,姓名,联系电话,是否空巢老人,提交时间"


def rows(tag: int) -> list[list[str]]:
    """Eight survey rows; `tag` moves the places so uploads in one module never duplicate each other."""
    lat = f"{39.1100 + tag * 0.002:.4f}"
    lat_near = f"{39.1100 + tag * 0.002 + 0.0001:.4f}"  # ≈ 11 m away: the same street light
    return [
        ["1", "朝阳里", "朝阳里第一网格", f"{tag}号楼2单元", "路灯不亮了", "", lat, "117.1950", "张大爷",
         "13800138000", "是", "2020-05-06 10:00"],
        ["2", "朝阳里社区", "", f"{tag}号楼", "楼道里花盆乱放", "楼道堆物", "", "", "李阿姨", "", "否", "2020/5/6"],
        ["3", "朝阳里", "", "", "路灯坏了 晚上很黑", "", lat_near, "117.1950", "", "", "", "2020年5月7日 9:30"],
        ["4", "朝阳里", "", "", "   ", "", "", "", "", "", "", ""],
        ["5", "朝阳里", "", "", "暖气不热", "", "95", "117.1950", "", "", "", ""],
        ["6", "火星社区", "", "", "停水了", "", "", "", "", "", "", ""],
        ["7", "金融街", "", "", "路灯不亮", "", "", "", "", "", "", ""],
        ["8", "", "", "", "邻居家装修噪音太吵", "", "", "", "", "", "", ""],
    ]  # fmt: skip


def csv_text(tag: int) -> str:
    lines = [HEADER] + [",".join(r) for r in rows(tag)]
    return "\r\n".join(lines) + "\r\n"


def xlsx_bytes(tag: int) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["朝阳里社区居民意见调查表"])  # a title row above the header, as people make them
    sheet.append(HEADER.split(","))
    for row in rows(tag):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[Stack]:
    async with running_intake(kafka_bootstrap, database_url, catalogue) as running:
        yield running


async def _upload(stack: Stack, name: str, content: bytes, key: str | None = None, **form: str) -> httpx.Response:
    headers = bearer(key or stack.keys["street_offices"]["nanyingmen"])
    return await stack.client.post("/v1/surveys", files={"file": (name, content)}, data=form or None, headers=headers)


@pytest.mark.parametrize(
    ("tag", "name", "encode", "encoding"),
    [
        (1, "意见.csv", lambda t: csv_text(t).encode("utf-8"), "utf-8"),
        (2, "意见.csv", lambda t: csv_text(t).encode("utf-8-sig"), "utf-8-sig"),
        (3, "意见.csv", lambda t: csv_text(t).encode("gbk"), "gb18030"),
        (4, "意见.xlsx", xlsx_bytes, None),
    ],
)
async def test_survey_rows_created_linked_or_rejected(
    stack: Stack, kafka_bootstrap: str, tag: int, name: str, encode: Any, encoding: str | None
) -> None:
    resp = await _upload(stack, name, encode(tag), community="chaoyangli")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["encoding"] == encoding
    results = {r["row"] - (3 if name.endswith("xlsx") else 2): r for r in body["rows"]}  # data row index
    assert [results[i]["result"] for i in range(8)] == [
        "created", "created", "duplicate", "rejected", "rejected", "rejected", "rejected", "created",
    ]  # fmt: skip
    assert results[0]["category"] == "street_light_out"
    assert results[1]["category"] == "corridor_clutter"  # the label, not the classifier, decided
    assert results[2]["duplicate_of"] == results[0]["case_id"]
    assert results[3]["reason"].startswith("description")
    assert results[4]["reason"].startswith("lat")
    assert results[5]["reason"].startswith("community")
    assert "outside street" in results[6]["reason"]
    assert results[7]["category"] == "noise"  # no community column value: the form's default applies
    summary = body["summary"]
    assert (summary["created"], summary["duplicates"], summary["rejected"]) == (3, 1, 4)
    assert summary["by_category"]["street_light_out"] == {"created": 1, "duplicates": 1}
    # Contact details stay in intake; the events say only that a survey reported it.
    case_id = results[0]["case_id"]
    view = await stack.client.get(f"/v1/cases/{case_id}", headers=bearer(stack.keys["street_offices"]["nanyingmen"]))
    assert view.json()["contact"] == {"name": "张大爷", "phone": "13800138000"}
    assert view.json()["vulnerable"] is True
    assert view.json()["grid"] == "chaoyangli-g1"
    records = await read_topic(
        kafka_bootstrap,
        f"{stack.prefix}{INTAKE_EVENTS}",
        until=lambda recs: any(r.key == case_id.encode() for r in recs),
        timeout=20,
    )
    event = next(orjson.loads(r.value)["data"] for r in records if r.key == case_id.encode())
    assert event["reporter_kind"] == "survey"
    assert "13800138000" not in str(event)


async def test_survey_file_problems_are_clear_4xx(stack: Stack) -> None:
    no_header = await _upload(stack, "a.csv", b"foo,bar\n1,2\n")
    assert no_header.status_code == 422
    assert no_header.json()["fields"][0]["field"] == "header"
    pdf = await _upload(stack, "a.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    assert pdf.status_code == 415
    assert "PDF" in pdf.json()["message"]
    empty = await _upload(stack, "a.csv", b"")
    assert empty.status_code == 422
    fake_xlsx = await _upload(stack, "a.xlsx", b"just text, really\n")
    assert fake_xlsx.status_code == 415
    bad_community = await _upload(stack, "a.csv", csv_text(9).encode(), community="atlantis")
    assert bad_community.status_code == 422
    assert bad_community.json()["fields"][0]["field"] == "community"
    anonymous = await stack.client.post("/v1/surveys", files={"file": ("a.csv", csv_text(9).encode())})
    assert anonymous.status_code == 401
    department = await _upload(stack, "a.csv", csv_text(9).encode(), key=stack.keys["departments"]["water"])
    assert department.status_code == 403


async def test_fifty_megabyte_upload_gets_413(stack: Stack) -> None:
    big = b"\xe6\x84\x8f\xe8\xa7\x81,x\n" * (50 * 1024 * 1024 // 10)
    resp = await _upload(stack, "big.csv", big)
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"
