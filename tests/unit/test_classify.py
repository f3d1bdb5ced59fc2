"""Keyword classifier: Chinese substrings, English words, scoring and triage."""

from __future__ import annotations

import time

import pytest

from services.intake.classify import CategoryRule, Classification, Classifier, english_forms

RULES = (
    CategoryRule("street_light", ("路灯", "路灯不亮", "灯不亮"), ("street light", "streetlight", "lamp")),
    CategoryRule("corridor_clutter", ("楼道", "花盆", "乱放", "杂物"), ("corridor", "clutter", "stairwell")),
    CategoryRule("heating", ("暖气", "暖气不热", "供暖"), ("heating", "radiator")),
    CategoryRule("gas", ("煤气", "燃气", "煤气味"), ("gas", "gas leak")),
    CategoryRule("neighbour_dispute", ("吵架", "邻里纠纷", "噪音"), ("quarrel", "noise", "dispute")),
    CategoryRule("groceries", ("买菜难", "买菜", "菜市场"), ("grocery", "vegetable")),
    CategoryRule("summer_activity", ("暑假", "孩子没地方活动"), ("summer camp", "kids activity")),
    CategoryRule("elderly_canteen", ("老年食堂", "助餐"), ("elderly canteen", "meal")),
)


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(RULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("路灯不亮了", "street_light"),
        ("楼道里花盆乱放", "corridor_clutter"),
        ("家里暖气不热", "heating"),
        ("闻到煤气味", "gas"),
        ("邻居吵架", "neighbour_dispute"),
        ("买菜难", "groceries"),
        ("暑假孩子没地方活动", "summer_activity"),
        ("没有老年食堂", "elderly_canteen"),
        ("The street lights on Jiefang Road are out", "street_light"),
        ("Radiators are cold, no heating since Monday", "heating"),
        ("I can smell a gas leak in the kitchen", "gas"),
        ("Neighbours quarrelling every night, constant noise", "neighbour_dispute"),
    ],
)
def test_realistic_samples(clf: Classifier, text: str, expected: str) -> None:
    result = clf.classify(text)
    assert result.category == expected, result
    assert 0.5 <= result.confidence <= 1.0
    assert result.candidates[0][0] == expected


def test_full_width_case_and_spaces_are_normalised(clf: Classifier) -> None:
    assert clf.classify("ＳＴＲＥＥＴ　ＬＩＧＨＴ is broken").category == "street_light"
    assert clf.classify("路 灯 不 亮").category == "street_light"  # spaces stripped for Chinese
    assert clf.classify("street-light out").category == "street_light"


def test_english_needs_word_boundaries(clf: Classifier) -> None:
    # "gas" must not fire inside "Vegas" or "gasket"; "meal" not inside "oatmeal".
    assert clf.classify("a trip to Vegas").candidates == ()
    assert clf.classify("oatmeal and a gasket").candidates == ()
    # English next to Chinese characters still counts as a word.
    assert clf.classify("楼里有gas味道").category == "gas"


def test_plural_and_stem_tolerance(clf: Classifier) -> None:
    assert clf.classify("two lamps broken").category == "street_light"
    assert clf.classify("groceries are hard to buy").category == "groceries"
    assert clf.classify("they quarrelled again").category == "neighbour_dispute"
    assert {"light", "lights", "lighting"} <= english_forms("light")
    assert {"stopped", "stopping"} <= english_forms("stop")
    assert {"leaking", "leaked"} <= english_forms("leak")


def test_longer_keyword_beats_shorter(clf: Classifier) -> None:
    long_hit = clf.scores("路灯不亮")["street_light"]
    short_hit = clf.scores("路灯")["street_light"]
    assert long_hit > short_hit
    assert clf.classify("路灯不亮").confidence > clf.classify("路灯").confidence


def test_more_distinct_hits_score_higher_but_repeats_do_not(clf: Classifier) -> None:
    one = clf.scores("楼道")["corridor_clutter"]
    three = clf.scores("楼道里花盆乱放")["corridor_clutter"]
    assert three > one
    assert clf.scores("楼道楼道楼道") == clf.scores("楼道")


def test_ambiguous_text_goes_to_triage_with_candidates(clf: Classifier) -> None:
    result = clf.classify("暖气和路灯都坏了")
    assert result.category is None
    assert result.confidence < 0.5
    assert {code for code, _ in result.candidates} == {"heating", "street_light"}


def test_decisive_strong_hit_survives_noise(clf: Classifier) -> None:
    # 暖气不热 (4) + 供暖 (2) vs a lone 楼道 (2): clearly heating despite the mention.
    result = clf.classify("楼道对面家里暖气不热，供暖站不管")
    assert result.category == "heating"
    assert result.confidence >= 0.6
    assert [c for c, _ in result.candidates] == ["heating", "corridor_clutter"]


def test_no_match(clf: Classifier) -> None:
    assert clf.classify("你好") == Classification(category=None, confidence=0.0, candidates=())
    assert clf.classify("") == Classification(category=None, confidence=0.0, candidates=())


def test_candidates_sorted_best_first_and_bounded(clf: Classifier) -> None:
    result = clf.classify("暑假孩子没地方活动，附近也没有菜市场，路灯也不亮")
    scores = [c for _, c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in scores)


def test_threshold_controls_triage() -> None:
    strict = Classifier(RULES, threshold=0.9)
    assert strict.classify("路灯").category is None
    assert Classifier(RULES, threshold=0.0).classify("路灯").category == "street_light"


def test_bad_rules_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Classifier([CategoryRule("a", ("灯",), ()), CategoryRule("a", ("水",), ())])
    with pytest.raises(ValueError, match="empty"):
        Classifier([CategoryRule("a", ("  ",), ())])
    with pytest.raises(ValueError, match="threshold"):
        Classifier(RULES, threshold=1.5)


def test_throughput_roughly(clf: Classifier) -> None:
    texts = [
        "路灯不亮了，晚上回家很黑",
        "家里暖气不热已经三天了",
        "The street lights on Main Road are out again",
        "暑假孩子没地方活动",
        "没有老年食堂，老人吃饭不方便",
    ] * 4000
    start = time.perf_counter()
    for text in texts:
        clf.classify(text)
    rate = len(texts) / (time.perf_counter() - start)
    print(f"\nclassify: {rate:,.0f} texts/s")  # informational only; `make bench` owns targets
