"""Survey file import: sniff, decode (UTF-8 / GB18030), stream rows and check them."""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from itertools import chain, islice
from typing import IO, Any, Literal

from services.intake.survey.columns import (
    COLUMNS,
    SurveyFileError,
    map_header,
    rows_with_header,
)
from services.intake.text_rules import FieldError, check_lat_lon, clean_description, clean_text

__all__ = [
    "COLUMNS",
    "CsvRows",
    "SurveyFileError",
    "decode_text",
    "iter_csv_rows",
    "iter_xlsx_rows",
    "map_header",
    "sniff_kind",
    "validate_row",
]

SNIFF_SAMPLE = 4096  # bytes after the first non-ASCII byte used to pick UTF-8 vs GB18030
MAX_LINE_CHARS = 1 << 20  # a "line" longer than this is not a survey CSV; refuse, don't buffer
_BOM = codecs.BOM_UTF8

_CELL_BREAKS = re.compile(r"[\t\r\n]+")

TRUTHY = frozenset({"是", "是的", "有", "y", "yes", "true", "1", "√", "✓", "✔"})
_SHORT_LIMITS = {"category": 64, "community": 100, "grid": 100, "address": 500,
                 "reporter_name": 100, "phone": 40}  # fmt: skip
_DATE_ZH = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时点]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?\s*秒?)?"
)

# Magic numbers of files people attach by mistake; each gets a message naming what it is.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.xls/.doc); save it as .xlsx or CSV"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xff\xfe", "UTF-16 text; save it as CSV UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as CSV UTF-8"),
)


def sniff_kind(filename: str | None, head: bytes) -> Literal["csv", "xlsx"]:
    """Decide from the first bytes (not the name) whether this is an xlsx workbook or CSV text."""
    name = (filename or "").lower()
    if not head:
        raise SurveyFileError("file", "file is empty")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"  # the workbook's own structure is checked when it is opened
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise SurveyFileError("file", f"expected CSV or .xlsx, got {what}")
    if head.startswith(b"PK"):
        raise SurveyFileError("file", "expected CSV or .xlsx, got an empty or split zip archive")
    if name.endswith((".xlsx", ".xlsm")):
        raise SurveyFileError("file", f"{filename} is named .xlsx but is not a zip workbook")
    body = head[len(_BOM) :] if head.startswith(_BOM) else head
    if b"\x00" in body or re.search(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]", body):
        raise SurveyFileError("file", "expected CSV or .xlsx, got binary data")
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(body, final=False)
        except UnicodeDecodeError:
            continue
        return "csv"
    raise SurveyFileError("file", "text is neither UTF-8 nor GB18030/GBK")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a whole file: UTF-8 with BOM, UTF-8, then GB18030; returns (text, encoding)."""
    if data.startswith(_BOM):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise SurveyFileError("file", f"has a UTF-8 BOM but invalid UTF-8: {exc}") from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise SurveyFileError("file", "text is neither UTF-8 nor GB18030/GBK")


class _StreamDecoder:
    """Incremental decoder that picks its encoding from the first non-ASCII bytes."""

    def __init__(self) -> None:
        self.encoding: str | None = None  # None while everything seen is ASCII
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending = b""

    def feed(self, data: bytes, final: bool = False) -> str:
        """Decode the next chunk; a character split across chunks is carried over."""
        if self._decoder is not None:
            return self._decoder.decode(data, final)
        buf = self._pending + data
        self._pending = b""
        if buf.startswith(_BOM):
            return self._start("utf-8-sig", buf, final)
        if not final and _BOM.startswith(buf):
            self._pending = buf  # maybe the start of a BOM; wait for more bytes
            return ""
        first = re.search(rb"[\x80-\xff]", buf)
        if first is None:
            return buf.decode("ascii")  # both candidates agree on ASCII: stay undecided
        ascii_part, rest = buf[: first.start()].decode("ascii"), buf[first.start() :]
        if len(rest) < SNIFF_SAMPLE and not final:
            self._pending = rest  # bounded: at most SNIFF_SAMPLE + one chunk
            return ascii_part
        sample, whole = rest[:SNIFF_SAMPLE], final and len(rest) <= SNIFF_SAMPLE
        for encoding in ("utf-8", "gb18030"):
            try:
                codecs.getincrementaldecoder(encoding)().decode(sample, whole)
            except UnicodeDecodeError:
                continue
            try:
                return ascii_part + self._start(encoding, rest, final)
            except UnicodeDecodeError as exc:
                # Re-base the error on the whole buffer so line numbers count the ASCII prefix.
                at = first.start()
                raise UnicodeDecodeError(encoding, buf, exc.start + at, exc.end + at, exc.reason) from None
        raise SurveyFileError("file", "text is neither UTF-8 nor GB18030/GBK")

    def _start(self, encoding: str, buf: bytes, final: bool) -> str:
        """Commit to `encoding` and decode `buf` with it."""
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)()
        return self._decoder.decode(buf, final)


def _text_lines(chunks: Iterable[bytes], decoder: _StreamDecoder) -> Iterator[str]:
    """Decoded lines with their '\\n' kept (csv needs them for quoted multi-line fields)."""
    partial, line_no = "", 0
    try:
        for chunk in chain(chunks, [None]):
            text = decoder.feed(b"", final=True) if chunk is None else decoder.feed(chunk)
            if not text:
                continue
            *lines, partial = (partial + text).split("\n")
            for line in lines:
                line_no += 1
                yield line + "\n"
            if len(partial) > MAX_LINE_CHARS:
                raise SurveyFileError("file", f"line {line_no + 1} is longer than {MAX_LINE_CHARS}")
    except UnicodeDecodeError as exc:
        # The failing chunk's earlier lines were never yielded; count them from its bytes
        # (0x0A is never a trail byte in UTF-8 or GB18030, so this count is exact).
        bad_line = line_no + 1 + bytes(exc.object[: exc.start]).count(b"\n")
        raise SurveyFileError(
            "file", f"line {bad_line}: invalid {decoder.encoding} byte sequence ({exc.reason})"
        ) from None
    if partial:
        yield partial


class CsvRows(Iterator[tuple[int, dict[str, str]]]):
    """Iterator of (line number, row) from CSV byte chunks; `.encoding` once known."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        """Wrap byte chunks; nothing is read until iteration starts."""
        self._decoder = _StreamDecoder()
        self._rows = rows_with_header(_csv_records(_text_lines(chunks, self._decoder)))

    @property
    def encoding(self) -> str:
        """Encoding in use so far ('utf-8' while only ASCII has been seen)."""
        return self._decoder.encoding or "utf-8"

    def __next__(self) -> tuple[int, dict[str, str]]:
        """Next (line number, row keyed by canonical column)."""
        return next(self._rows)


def iter_csv_rows(chunks: Iterable[bytes]) -> CsvRows:
    """Stream CSV byte chunks as (first line of the record, row keyed by canonical column)."""
    return CsvRows(chunks)


def _csv_records(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """Parse lines as CSV, yielding (starting line number, cells)."""
    peek = list(islice(lines, 5))
    # Excel in some locales writes ';', "Unicode text" exports use tabs; pick the commonest.
    delimiter = max((",", "\t", ";"), key=lambda d: sum(line.count(d) for line in peek))
    reader = csv.reader(chain(peek, lines), delimiter=delimiter)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SurveyFileError("file", f"line {reader.line_num}: malformed CSV ({exc})") from None


def _cell_text(value: Any) -> str:
    """Spreadsheet cell → text the CSV path would have produced."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # phone numbers typed as numbers come back as 13800138000.0
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def iter_xlsx_rows(fileobj: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream the first sheet of an xlsx as (sheet row number, row keyed by canonical column)."""
    # Imported here: openpyxl costs ~0.1 s to import and only the xlsx path needs it.
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # openpyxl ships no type information
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]  # as above

    try:
        workbook = load_workbook(fileobj, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise SurveyFileError("file", f"not a readable .xlsx workbook ({exc})") from None
    try:
        if not workbook.worksheets:
            raise SurveyFileError("file", "workbook has no sheets")
        sheet = workbook.worksheets[0]
        records = (
            (number, [_cell_text(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        yield from rows_with_header(records)
    finally:
        workbook.close()  # read-only mode keeps the zip open until closed


def _parse_datetime(text: str) -> datetime:
    """Parse ISO 8601 or common Chinese forms (2020年5月1日 10:30, 2020/5/1); naive = local."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    match = _DATE_ZH.fullmatch(text)
    if match is None:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    return datetime(y, mo, d, h, mi, s)


def validate_row(row: dict[str, str]) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """Clean one mapped row; returns (values, None) or (None, reason naming the field)."""
    try:
        description = clean_description(row.get("description", ""))
        point = check_lat_lon(row.get("lat"), row.get("lon"))
        cleaned: dict[str, Any] = {"description": description}
        for field, limit in _SHORT_LIMITS.items():
            # Alt+Enter line breaks inside spreadsheet cells are layout, not content.
            raw = _CELL_BREAKS.sub(" ", row.get(field, ""))
            cleaned[field] = clean_text(raw, field=field, max_len=limit) if raw.strip() else None
    except FieldError as exc:
        return None, str(exc)
    cleaned["lat"], cleaned["lon"] = point if point is not None else (None, None)
    flag = unicodedata.normalize("NFKC", row.get("vulnerable", "")).strip().casefold()
    cleaned["vulnerable"] = flag in TRUTHY  # anything else, blank included, means not flagged
    submitted = unicodedata.normalize("NFKC", row.get("submitted_at", "")).strip()
    cleaned["submitted_at"] = None
    if submitted:
        try:
            cleaned["submitted_at"] = _parse_datetime(submitted)
        except ValueError:
            return None, f"submitted_at: unrecognised date {submitted!r}"
    return cleaned, None
