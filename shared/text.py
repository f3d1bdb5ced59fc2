"""One cleaning rule for every free-text field a caller sends, in every service. No I/O.

Control characters and lone surrogates are refused (PostgreSQL cannot store NUL at all, a lone
surrogate is not UTF-8, and the others are never meant in a note a person wrote); line breaks and
tabs are kept. Bidirectional overrides and
isolates are stripped: they let a note display differently from what it says (a public note
that reads one way and stores another).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, field_validator

_KEPT_CONTROLS = frozenset("\n\r\t")
# LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_STRIP_BIDI = str.maketrans(dict.fromkeys(map(ord, _BIDI_CONTROLS)))


def clean_text(value: str) -> str:
    """`value` without bidi overrides; ValueError naming the first control character or lone surrogate."""
    if value.isascii() and value.isprintable():
        return value  # the common case, without a per-character walk
    for position, char in enumerate(value):
        if char in _KEPT_CONTROLS:
            continue
        # Cs: a lone surrogate (JSON can carry "\ud800") cannot be encoded as UTF-8, so not stored.
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X} at position {position})")
    return value.translate(_STRIP_BIDI) if any(c in _BIDI_CONTROLS for c in value) else value


def clean_any(value: Any) -> Any:
    """`clean_text` applied to every string inside lists, tuples and dicts (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_any(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_any(v) for v in value)
    if isinstance(value, dict):
        return {clean_any(k): clean_any(v) for k, v in value.items()}
    return value


CleanText = Annotated[str, AfterValidator(clean_text)]


class CleanModel(BaseModel):
    """Base for request bodies: every string field, however nested in lists or dicts, is cleaned.

    Nested models clean their own fields when they derive from this class too.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _clean_strings(cls, value: Any) -> Any:
        return clean_any(value)
