"""Survey import: sniffing, decoding, streaming CSV/xlsx, header mapping, row checks."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import datetime

import pytest
from openpyxl import Workbook

from services.intake.survey.rows import (
    SurveyFileError,
    decode_text,
    iter_csv_rows,
    iter_xlsx_rows,
    map_header,
    sniff_kind,
    validate_row,
)

ZH_CSV = (
    "序号,社区,网格,地址,问题描述,纬度,经度,姓名,联系电话,是否空巢老人,提交时间\n"
    "1,朝阳里,3网格,3号楼2单元,路灯不亮了,39.1190,117.1930,张大爷,13800138000,是,2020-05-06 10:00\n"
    "2,朝阳里,1网格,5号楼,楼道里花盆乱放,,,李阿姨,,否,2020/5/6\n"
    '3,朝阳里,2网格,,"家里暖气不热\n已经三天了",,,,,,2020年5月7日 9:30\n'
    "4,朝阳里,2网格,,闻到煤气味,,,,,Y,\n"
)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def read_all(data: bytes, size: int = 1 << 16) -> tuple[list[tuple[int, dict[str, str]]], str]:
    rows = iter_csv_rows(chunked(data, size))
    return list(rows), rows.encoding


@pytest.mark.parametrize(
    ("payload", "encoding"),
    [
        (ZH_CSV.encode("utf-8"), "utf-8"),
        (ZH_CSV.encode("utf-8-sig"), "utf-8-sig"),
        (ZH_CSV.encode("gbk"), "gb18030"),
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 16])
def test_csv_encodings_and_chunk_boundaries(payload: bytes, encoding: str, size: int) -> None:
    # Chunks of 1-7 bytes split nearly every multibyte character across a boundary.
    rows, used = read_all(payload, size)
    assert used == encoding
    assert [line for line, _ in rows] == [2, 3, 4, 6]  # record 3 spans lines 4-5
    first = rows[0][1]
    assert first["description"] == "路灯不亮了"
    assert first["community"] == "朝阳里"
    assert first["grid"] == "3网格"
    assert first["address"] == "3号楼2单元"
    assert (first["lat"], first["lon"]) == ("39.1190", "117.1930")
    assert first["reporter_name"] == "张大爷"
    assert first["phone"] == "13800138000"
    assert first["vulnerable"] == "是"
    assert first["submitted_at"] == "2020-05-06 10:00"
    assert rows[2][1]["description"] == "家里暖气不热\n已经三天了"
    assert "序号" not in first


def test_split_char_after_long_ascii_prefix() -> None:
    # The first non-ASCII byte arrives late and split across chunks; GBK must still be detected.
    text = "Description,Community,Note\n"
    text += "".join(f"street light {i} out,Chaoyangli,n/a\n" for i in range(2000))
    text += "买菜难,朝阳里,暑假孩子没地方活动\n"
    data = text.encode("gbk")
    cut = data.index("买".encode("gbk")) + 1
    chunks = [data[:cut], data[cut:]]
    rows = list(iter_csv_rows(chunks))
    assert rows[-1][1] == {"description": "买菜难", "community": "朝阳里"}
    assert len(rows) == 2001


def test_pure_ascii_reports_utf8() -> None:
    rows, used = read_all(b"Description,Community\nStreet light out,Chaoyangli\n")
    assert used == "utf-8"
    assert rows == [(2, {"description": "Street light out", "community": "Chaoyangli"})]


def test_invalid_bytes_mid_stream_name_the_line() -> None:
    data = ("意见\n" + "路灯不亮\n" * 2000).encode("utf-8") + b"\xff\xfe bad\n"
    with pytest.raises(SurveyFileError, match="line 2002") as info:
        list(iter_csv_rows(chunked(data, 1000)))
    assert info.value.field == "file"


def test_title_row_blank_rows_and_delimiters() -> None:
    text = "朝阳里社区居民意见调查表,,,\n,,,\n姓名;社区;意见;电话\n王五;朝阳里;没有老年食堂;\n;;;\n"
    rows, _ = read_all(text.encode("utf-8"))
    assert rows == [
        (
            4,
            {
                "reporter_name": "王五",
                "community": "朝阳里",
                "description": "没有老年食堂",
                "phone": "",
            },
        )
    ]
    tsv = "Description\tLat\tLong\nNo summer activities for kids\t39.1\t117.2\n"
    assert read_all(tsv.encode())[0][0][1] == {
        "description": "No summer activities for kids",
        "lat": "39.1",
        "lon": "117.2",
    }


def test_short_rows_get_empty_cells() -> None:
    rows, _ = read_all("意见,社区,电话\n邻居吵架\n".encode())
    assert rows == [(2, {"description": "邻居吵架", "community": "", "phone": ""})]


def test_map_header_chinese_and_english_tolerant() -> None:
    assert map_header(["  问题描述(必填) ", "所在社区", "联系人电话", "问题类别", "经度（E）"]) == {
        0: "description",
        1: "community",
        2: "phone",
        3: "category",
        4: "lon",
    }
    assert map_header([" DESCRIPTION ", "Lat", "LNG", "Reporter Name", "Phone Number", "Date"]) == {
        0: "description",
        1: "lat",
        2: "lon",
        3: "reporter_name",
        4: "phone",
        5: "submitted_at",
    }
    # Exact names beat fuzzy ones; a second description column is ignored.
    assert map_header(["意见", "内容", "Vulnerable"]) == {0: "description", 2: "vulnerable"}


def test_no_header_rejected() -> None:
    with pytest.raises(SurveyFileError, match="no recognisable header") as info:
        map_header(["编号", "名称", "金额"])
    assert info.value.field == "header"
    assert "意见" in info.value.message
    assert "description" in info.value.message
    with pytest.raises(SurveyFileError, match="no recognisable header"):
        list(iter_csv_rows([b"a,b,c\n1,2,3\n"]))
    with pytest.raises(SurveyFileError, match="no rows"):
        list(iter_csv_rows([b"\n\n"]))


def test_sniff_kind() -> None:
    assert sniff_kind("意见.csv", ZH_CSV.encode("gbk")[:512]) == "csv"
    assert sniff_kind(None, ZH_CSV.encode("utf-8-sig")[:7]) == "csv"  # cut mid-character
    assert sniff_kind("survey.xlsx", b"PK\x03\x04\x14\x00\x06\x00") == "xlsx"
    for head, what in [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office"),
        (b"\xff\xfe\x0f\x61", "UTF-16"),
        (b"abc\x00\x00def", "binary"),
        (b"", "empty"),
    ]:
        with pytest.raises(SurveyFileError, match=what) as info:
            sniff_kind("upload.csv", head)
        assert info.value.field == "file"
    with pytest.raises(SurveyFileError, match="not a zip"):
        sniff_kind("survey.xlsx", b"description\nx\n")


def test_decode_text() -> None:
    assert decode_text("意见\n买菜难".encode("utf-8-sig")) == ("意见\n买菜难", "utf-8-sig")
    assert decode_text("意见\n买菜难".encode()) == ("意见\n买菜难", "utf-8")
    assert decode_text("意见\n买菜难".encode("gbk")) == ("意见\n买菜难", "gb18030")
    assert decode_text(b"plain") == ("plain", "utf-8")
    with pytest.raises(SurveyFileError, match="GB18030"):
        decode_text(b"\x80\x80\xff")


def build_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["朝阳里社区居民意见调查表"])
    ws.append(["序号", "意见", "社区", "纬度", "经度", "手机", "空巢", "日期"])
    ws.append(
        [
            1,
            "暑假孩子没地方活动",
            "朝阳里",
            39.119,
            117.193,
            13800138000,
            True,
            datetime(2020, 5, 6, 9, 30),
        ]
    )
    ws.append([None] * 8)
    ws.append([2, "没有老年食堂", "朝阳里", None, None, None, "否", None])
    wb.create_sheet("第二页").append(["意见"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_rows() -> None:
    data = build_xlsx()
    assert sniff_kind("survey.xlsx", data[:8]) == "xlsx"
    rows = list(iter_xlsx_rows(io.BytesIO(data)))
    assert [line for line, _ in rows] == [3, 5]
    first = rows[0][1]
    assert first == {
        "description": "暑假孩子没地方活动",
        "community": "朝阳里",
        "lat": "39.119",
        "lon": "117.193",
        "phone": "13800138000",
        "vulnerable": "true",
        "submitted_at": "2020-05-06 09:30:00",
    }
    cleaned, reason = validate_row(first)
    assert reason is None
    assert cleaned is not None
    assert cleaned["vulnerable"] is True
    assert cleaned["submitted_at"] == datetime(2020, 5, 6, 9, 30)
    assert validate_row(rows[1][1])[0]["vulnerable"] is False  # type: ignore[index]


def test_broken_xlsx_rejected() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    with pytest.raises(SurveyFileError, match="xlsx") as info:
        list(iter_xlsx_rows(io.BytesIO(buf.getvalue())))
    assert info.value.field == "file"
    with pytest.raises(SurveyFileError):
        list(iter_xlsx_rows(io.BytesIO(b"PK\x03\x04 truncated")))


def test_validate_row_good() -> None:
    cleaned, reason = validate_row(
        {
            "description": "  路灯不亮了\r\n晚上很黑 ",
            "community": "朝阳里",
            "address": "3号楼\n2单元",
            "lat": "39.1190",
            "lon": "117.1930",
            "vulnerable": " Yes ",
            "submitted_at": "2020年5月6日 10:30",
            "phone": "",
        }
    )
    assert reason is None
    assert cleaned is not None
    assert cleaned["description"] == "路灯不亮了\n晚上很黑"
    assert cleaned["address"] == "3号楼 2单元"
    assert (cleaned["lat"], cleaned["lon"]) == (39.119, 117.193)
    assert cleaned["vulnerable"] is True
    assert cleaned["submitted_at"] == datetime(2020, 5, 6, 10, 30)
    assert cleaned["phone"] is None
    assert cleaned["category"] is None


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"description": "   "}, "description: must not be empty"),
        ({"description": "买菜难", "lat": "91", "lon": "117"}, "lat: must be between"),
        ({"description": "买菜难", "lat": "abc", "lon": "117"}, "lat: must be a decimal"),
        ({"description": "买菜难", "lat": "39.1"}, "lon: lat and lon must be given together"),
        ({"description": "路" * 4001}, "description: must be at most 4000"),
        ({"description": "邻居\x07吵架"}, "description: must not contain control characters"),
        ({"description": "买菜难", "community": "朝阳\x00里"}, "community: must not contain"),
        ({"description": "买菜难", "submitted_at": "last Tuesday"}, "submitted_at: unrecognised"),
    ],
)
def test_validate_row_reasons(row: dict[str, str], reason: str) -> None:
    cleaned, got = validate_row(row)
    assert cleaned is None
    assert got is not None
    assert got.startswith(reason), got


def test_single_chunk_with_late_invalid_bytes_names_the_line() -> None:
    # The whole file in one chunk: sniffing passes on the first 4 KiB, decoding fails later.
    data = ("description\n" + "street light\n" * 10 + "路灯不亮\n" * 2000).encode() + b"\xff\n"
    with pytest.raises(SurveyFileError, match="line 2012"):
        list(iter_csv_rows([data]))
