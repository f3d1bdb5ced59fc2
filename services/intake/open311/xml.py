"""Open311 GeoReport v2 XML rendering, shaped like the spec's own examples."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

# XML 1.0 names, restricted to what Open311 uses (ASCII); attribute codes from the catalogue
# end up as tags, so a bad one must fail loudly here rather than emit broken XML.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Characters XML 1.0 cannot carry at all, even escaped; replaced so the document stays
# well-formed whatever an operator typed into status_notes.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


class Nested(NamedTuple):
    """A field whose value is a list: <wrapper_tag><item_tag>…</item_tag>…</wrapper_tag>."""

    wrapper_tag: str
    item_tag: str
    items: Sequence[Any]


def _check_tag(tag: str) -> str:
    """Return `tag` if it is a usable XML element name, else raise ValueError."""
    if not _NAME.fullmatch(tag) or tag.lower().startswith("xml"):
        raise ValueError(f"not a valid XML element name: {tag!r}")
    return tag


def scalar_text(value: Any) -> str:
    """Text of a scalar the way Open311 writes it (booleans lower-case, ISO 8601 times)."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, Enum):
        return scalar_text(value.value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render {value} in XML")
        return repr(value)
    if isinstance(value, datetime):
        # The spec requires a zone on every time; a naive one here is a bug upstream.
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | str | Decimal):
        return str(value)
    raise TypeError(f"cannot render {type(value).__name__} as Open311 XML text")


def _escape(text: str) -> str:
    """Escape element text; CR as &#13; so parsers don't fold CRLF into LF."""
    return _NOT_XML.sub("\ufffd", text).translate(_ESCAPES)


def _element(out: list[str], tag: str, value: Any) -> None:
    """Append one element for `value` to `out`."""
    _check_tag(tag)
    if isinstance(value, Nested) or (
        isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], list | tuple)
    ):
        wrapper, item_tag, items = value
        _items(out, _check_tag(wrapper), item_tag, items)
        return
    if isinstance(value, Mapping):
        out.append(f"<{tag}>")
        _fields(out, value)
        out.append(f"</{tag}>")
        return
    if isinstance(value, list):
        raise TypeError(
            f"field {tag!r} is a list; give it as Nested(wrapper_tag, item_tag, items) "
            "or (wrapper_tag, item_tag, items)"
        )
    # Start and end tags even when empty, as in the spec's examples (<status_notes></status_notes>).
    out.append(f"<{tag}>{_escape(scalar_text(value))}</{tag}>")


def _fields(out: list[str], fields: Mapping[str, Any]) -> None:
    """Append one element per field, in the mapping's order (the spec lists fields in order)."""
    for key, value in fields.items():
        _element(out, key, value)


def _items(out: list[str], wrapper: str, item_tag: str | None, items: Sequence[Any]) -> None:
    """Append <wrapper> with one <item_tag> per item (or the fields bare when item_tag is None)."""
    out.append(f"<{wrapper}>")
    for item in items:
        if item_tag is None:
            if not isinstance(item, Mapping):
                raise TypeError("items must be mappings when item_tag is None")
            _fields(out, item)
        else:
            _element(out, item_tag, item)
    out.append(f"</{wrapper}>")


def to_xml(root_tag: str, item_tag: str | None, items: Sequence[Any]) -> bytes:
    """Render `<root_tag><item_tag>fields…</item_tag>…</root_tag>` as UTF-8 with a declaration.

    Each item is a mapping of field → value: None → empty element, bool → true/false, datetime
    → ISO 8601 with zone, a mapping → child elements, Nested(...) or a
    (wrapper_tag, item_tag, list) tuple → a nested list such as attributes/attribute/values.
    With item_tag None the items' fields go straight under the root, which is how a single
    object like <service_definition> is written.
    """
    out: list[str] = [XML_DECLARATION]
    _items(out, _check_tag(root_tag), item_tag, items)
    return "".join(out).encode("utf-8")


def object_to_xml(root_tag: str, fields: Mapping[str, Any]) -> bytes:
    """Render a single object, e.g. <service_definition>, as UTF-8 XML."""
    return to_xml(root_tag, None, [fields])


def errors_xml(errors: Sequence[tuple[int, str]]) -> bytes:
    """Render an Open311 error list: <errors><error><code/><description/></error></errors>."""
    return to_xml("errors", "error", [{"code": c, "description": d} for c, d in errors])
