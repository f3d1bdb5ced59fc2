"""Survey header recognition: Chinese or English column names → canonical columns."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from itertools import chain

HEADER_SCAN_ROWS = 10  # title rows ("XX社区居民意见调查表") may sit above the real header

# canonical column → aliases. Chinese aliases also match inside a longer header, preferring
# one at the end (Chinese puts the head noun last: 联系电话 → phone, 问题类别 → category).
COLUMNS: dict[str, tuple[str, ...]] = {
    "description": ("意见", "内容", "问题描述", "诉求", "描述", "意见建议", "反映问题", "问题",
                    "description", "opinion", "content", "comment", "comments", "issue", "need"),
    "category": ("类别", "分类", "类型", "category", "type", "servicecode", "service_code"),
    "community": ("社区", "community", "communityname"),
    "grid": ("网格", "grid"),
    "address": ("地址", "位置", "门牌", "address", "location", "addressstring"),
    "lat": ("纬度", "lat", "latitude"),
    "lon": ("经度", "lon", "lng", "long", "longitude"),
    "reporter_name": ("姓名", "名字", "联系人", "反映人", "name", "reportername", "reporter",
                      "residentname", "firstname"),
    "phone": ("电话", "手机", "联系方式", "手机号", "phone", "mobile", "tel", "telephone",
              "phonenumber", "contactphone"),
    "vulnerable": ("空巢", "困难", "独居", "结对", "vulnerable", "emptynest"),
    "submitted_at": ("时间", "日期", "date", "time", "datetime", "submitted", "submittedat",
                     "timestamp", "datesubmitted"),
}  # fmt: skip
_ALIAS = {alias: canon for canon, aliases in COLUMNS.items() for alias in aliases}
_HAS_CJK = re.compile(r"[\u3400-\u9fff]")
_BRACKETED = re.compile(r"[(\[【（][^)\]】）]*[)\]】）]")
_HEADER_NOISE = re.compile(r"[\s_\-*:：.、#/]+")
_LATIN_TOKEN = re.compile(r"[a-z]+")


class SurveyFileError(Exception):
    """The whole file is unusable; `field` names the part at fault ('file' or 'header')."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _header_key(cell: str) -> str:
    """Header cell without case, spaces, punctuation or bracketed notes like (必填)."""
    text = unicodedata.normalize("NFKC", cell).casefold()
    return _HEADER_NOISE.sub("", _BRACKETED.sub("", text))


def _match_column(key: str) -> tuple[str, int, int] | None:
    """Best (canonical, is_suffix, alias length) for a non-exact header key."""
    best: tuple[str, int, int] | None = None
    if _HAS_CJK.search(key):
        if len(key) > 10:  # long cells are titles or notes, not headers
            return None
        hits = [(c, int(key.endswith(a)), len(a)) for a, c in _ALIAS.items() if a in key]
    else:
        tokens = _LATIN_TOKEN.findall(key)
        hits = [(_ALIAS[t], int(i == len(tokens) - 1), len(t))
                for i, t in enumerate(tokens) if t in _ALIAS]  # fmt: skip
    for hit in hits:
        if best is None or hit[1:] > best[1:]:
            best = hit
    return best


def map_header(cells: Sequence[str]) -> dict[int, str]:
    """Map column index → canonical column; raise SurveyFileError without a description column."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    keys = [_header_key(str(c)) for c in cells]
    # Exact names first so 意见 + 问题类别 never lets a fuzzy match steal a column.
    for index, key in enumerate(keys):
        canon = _ALIAS.get(key)
        if canon and canon not in taken:
            mapping[index] = canon
            taken.add(canon)
    for index, raw in enumerate(cells):
        if index in mapping or not keys[index]:
            continue
        spaced = unicodedata.normalize("NFKC", str(raw)).casefold()
        hit = _match_column(keys[index] if _HAS_CJK.search(keys[index]) else spaced)
        if hit and hit[0] not in taken:
            mapping[index] = hit[0]
            taken.add(hit[0])
    if "description" not in taken:
        expected = "/".join(COLUMNS["description"][:4] + COLUMNS["description"][8:11])
        raise SurveyFileError("header", f"no recognisable header; expected one of {expected}")
    return mapping


def rows_with_header(
    records: Iterator[tuple[int, list[str]]],
) -> Iterator[tuple[int, dict[str, str]]]:
    """Find the header among the first non-empty rows, then yield data rows as dicts."""
    buffered: list[tuple[int, list[str]]] = []
    for record in records:
        if any(str(c).strip() for c in record[1]):
            buffered.append(record)
            if len(buffered) >= HEADER_SCAN_ROWS:
                break
    if not buffered:
        raise SurveyFileError("file", "file has no rows")
    chosen: tuple[int, dict[int, str]] | None = None
    error: SurveyFileError | None = None
    for position, (_, cells) in enumerate(buffered):
        try:
            mapping = map_header(cells)
        except SurveyFileError as exc:
            error = error or exc
            continue
        # A title row ("居民意见调查") is one merged cell; a real header has several cells.
        if sum(1 for c in cells if str(c).strip()) >= 2:
            chosen = (position, mapping)
            break
        chosen = chosen or (position, mapping)
    if chosen is None:
        raise error or SurveyFileError("header", "no recognisable header")
    position, mapping = chosen
    for line, cells in chain(buffered[position + 1 :], records):
        if not any(str(c).strip() for c in cells):
            continue  # blank spacer rows carry nothing to report
        yield (
            line,
            {canon: (str(cells[i]).strip() if i < len(cells) else "") for i, canon in mapping.items()},
        )
