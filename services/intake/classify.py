"""Keyword classifier for residents' free-text needs, Chinese and English, no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Scoring (all numbers are "units"):
#   weight(keyword) = CJK characters in it + 2 per Latin word + 1 per other character run
#     (a Chinese word is ~2 characters, so one English word counts like one Chinese word and
#      longer phrases such as 路灯不亮 / "street light" outweigh a bare 灯 / "light").
#   score(category) = sum of weights of the *distinct* keywords of that category found in the
#     text (repeating one word does not add evidence; hitting several different ones does).
#   confidence(c)   = score(c) / (sum of all scores + PRIOR)
#     PRIOR is a pseudo-score for "none of these": a single one-character hit gets 1/(1+1)=0.5,
#     a two-character hit 0.67, two equally strong categories stay below 0.5.
#   Floor: a decisive strong hit (best >= STRONG units and >= 2x the runner-up) gets at least
#     STRONG_FLOOR, so one clear phrase is not sent to triage by weak noise in other categories.
PRIOR = 1.0
STRONG = 4.0
STRONG_FLOOR = 0.6

# Latin letters and digits; an English keyword must not touch one on either side. CJK text
# around it is fine ("路灯light坏了"), which `\b` would refuse because CJK counts as \w.
_LATIN = r"0-9a-z\u00c0-\u024f"
_WS = re.compile(r"\s+")
_EN_SEPARATORS = re.compile(r"[\s\-_/]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_LATIN_WORD = re.compile(rf"[{_LATIN}]+")
_VOWELS = "aeiou"
_Trie = dict[str, "_Trie"]  # char → subtree; "" marks the end of a keyword


@dataclass(frozen=True)
class CategoryRule:
    """One category's keywords; a Chinese keyword matches as a substring, English by words."""

    code: str
    keywords_zh: tuple[str, ...]
    keywords_en: tuple[str, ...]


@dataclass(frozen=True)
class Classification:
    """Result; category is None when the best confidence is below the threshold (→ triage)."""

    category: str | None
    confidence: float
    candidates: tuple[tuple[str, float], ...]  # (code, confidence), best first


def normalise_zh(text: str) -> str:
    """Full-width → half-width (NFKC), case-fold, drop all whitespace."""
    return _WS.sub("", unicodedata.normalize("NFKC", text).casefold())


def normalise_en(text: str) -> str:
    """NFKC, case-fold, and fold runs of spaces, hyphens, underscores and slashes to one space."""
    return _EN_SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def keyword_weight(keyword: str) -> float:
    """Evidence units of a normalised keyword (see the scoring comment above)."""
    cjk = len(_CJK.findall(keyword))
    words = len(_LATIN_WORD.findall(keyword))
    rest = _CJK.sub("", _LATIN_WORD.sub("", keyword)).replace(" ", "")
    return float(cjk + 2 * words + (1 if rest else 0))


def english_forms(word: str) -> set[str]:
    """Simple inflections of a base-form word: plural, -ed, -ing (light→lights, leak→leaking)."""
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if len(word) < 3 or not word.isalpha():
        return {word, word + "s"}
    last, before = word[-1], word[-2]
    if last == "y" and before not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if last == "e":
        forms |= {word + "d", word[:-1] + "ing"}
    # CVC endings double the consonant: stop → stopped, stopping.
    if last not in _VOWELS + "wxy" and before in _VOWELS and word[-3] not in _VOWELS:
        forms |= {word + last + "ed", word + last + "ing"}
    return forms


def _trie_pattern(words: Iterable[str]) -> str:
    """Regex matching any of `words`, factored as a trie so re scans in near-linear time."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # end marker

    def build(node: _Trie) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy optional tail: at each start position the longest keyword wins.
        return f"(?:{body})?" if ends else body

    return build(trie)


class Classifier:
    """Classifies text with one precompiled regex per language over all rules."""

    def __init__(self, rules: Sequence[CategoryRule], threshold: float = 0.5) -> None:
        """Compile the rules; ValueError on duplicate codes, empty keywords or a bad threshold."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold
        self._codes: list[str] = []
        # normalised keyword (or inflected form) → ((category index, dedupe key, weight), ...)
        zh_hits: dict[str, list[tuple[int, str, float]]] = {}
        en_hits: dict[str, list[tuple[int, str, float]]] = {}
        for index, rule in enumerate(rules):
            if rule.code in self._codes:
                raise ValueError(f"duplicate category code {rule.code!r}")
            self._codes.append(rule.code)
            for raw in rule.keywords_zh:
                kw = normalise_zh(raw)
                if not kw:
                    raise ValueError(f"{rule.code}: empty Chinese keyword {raw!r}")
                zh_hits.setdefault(kw, []).append((index, kw, keyword_weight(kw)))
            for raw in rule.keywords_en:
                kw = normalise_en(raw)
                if not kw:
                    raise ValueError(f"{rule.code}: empty English keyword {raw!r}")
                # Dedupe key without spaces, so "wifi" in both lists counts once.
                entry = (index, kw.replace(" ", ""), keyword_weight(kw))
                head, _, tail = kw.rpartition(" ")
                for form in english_forms(tail):
                    en_hits.setdefault(f"{head} {form}" if head else form, []).append(entry)
        self._zh = {kw: tuple(v) for kw, v in zh_hits.items()}
        self._en = {kw: tuple(v) for kw, v in en_hits.items()}
        self._zh_re = re.compile(_trie_pattern(self._zh)) if self._zh else None
        self._en_re = re.compile(rf"(?<![{_LATIN}])(?:{_trie_pattern(self._en)})(?![{_LATIN}])") if self._en else None

    @property
    def codes(self) -> tuple[str, ...]:
        """The category codes, in rule order."""
        return tuple(self._codes)

    def scores(self, text: str) -> dict[str, float]:
        """Raw score per matched category code (see the scoring comment)."""
        seen: set[tuple[int, str]] = set()
        totals: dict[int, float] = {}
        for pattern, table, normalised in (
            (self._zh_re, self._zh, normalise_zh(text) if self._zh_re else ""),
            (self._en_re, self._en, normalise_en(text) if self._en_re else ""),
        ):
            if pattern is None or not normalised:
                continue
            for match in pattern.finditer(normalised):
                for index, key, weight in table[match.group()]:
                    if (index, key) not in seen:
                        seen.add((index, key))
                        totals[index] = totals.get(index, 0.0) + weight
        return {self._codes[i]: s for i, s in totals.items()}

    def classify(self, text: str) -> Classification:
        """Best category with confidence and ranked candidates; None below the threshold."""
        scores = self.scores(text)
        if not scores:
            return Classification(category=None, confidence=0.0, candidates=())
        # Ties break on rule order (the catalogue's order), which is stable and reviewable.
        order = {code: i for i, code in enumerate(self._codes)}
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
        denominator = sum(scores.values()) + PRIOR
        confidences = [(code, score / denominator) for code, score in ranked]
        best_code, best_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        best_conf = confidences[0][1]
        if best_score >= STRONG and best_score >= 2 * runner_up:
            best_conf = max(best_conf, STRONG_FLOOR)
        confidences[0] = (best_code, best_conf)
        # Rounded before the threshold test so the reported number and the decision agree.
        candidates = tuple((code, round(c, 4)) for code, c in confidences)
        confidence = candidates[0][1]
        category = best_code if confidence >= self.threshold else None
        return Classification(category=category, confidence=confidence, candidates=candidates)
