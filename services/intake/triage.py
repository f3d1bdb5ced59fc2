"""Category from the catalogue's keyword rules when a need comes without one. No I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from services.intake.classify import CategoryRule, Classifier
from shared.catalogue import Catalogue
from shared.events.intake import CategoryScore, Classification

DEFAULT_THRESHOLD = 0.5
MAX_CANDIDATES = 5


@dataclass(frozen=True)
class Choice:
    """The category chosen (None → the street office triages) and how, when it was classified."""

    category: str | None
    classification: Classification | None


# Compiled rules per (catalogue fingerprint, threshold): a catalogue change compiles new rules on
# first use, and hashing the whole frozen catalogue on every need is avoided.
_CACHE: dict[tuple[str, float], Classifier] = {}
_CACHE_SIZE = 8


def classifier_for(catalogue: Catalogue, threshold: float = DEFAULT_THRESHOLD) -> Classifier:
    """The compiled classifier for this catalogue version."""
    key = (catalogue.fingerprint, threshold)
    found = _CACHE.get(key)
    if found is None:
        rules = [CategoryRule(c.code, c.keywords.zh, c.keywords.en) for c in catalogue.categories]
        found = Classifier(rules, threshold=threshold)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def classify(catalogue: Catalogue, text: str, threshold: float = DEFAULT_THRESHOLD) -> Choice:
    """Classify free text; below the threshold the category is None and the candidates say why."""
    result = classifier_for(catalogue, threshold).classify(text)
    classification = Classification(
        confidence=result.confidence,
        candidates=[CategoryScore(code=code, confidence=conf) for code, conf in result.candidates[:MAX_CANDIDATES]],
    )
    return Choice(category=result.category, classification=classification)


def category_from_label(catalogue: Catalogue, label: str) -> str | None:
    """A category named by code, Chinese or English name (as survey sheets write it), else None."""
    wanted = unicodedata.normalize("NFKC", label).strip().casefold()
    for category in catalogue.categories:
        names = {category.code, category.name.casefold(), category.name_en.casefold()}
        # Names like "楼道堆物 / 花盆乱放" list alternatives; each half names the category too.
        names |= {part.strip().casefold() for part in category.name.split("/")}
        if wanted in names:
            return category.code
    return None
