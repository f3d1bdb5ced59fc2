"""Classification with the demo catalogue's keyword rules: Chinese and English samples, triage below the threshold."""

from __future__ import annotations

import pytest

from services.intake.triage import category_from_label, classifier_for, classify
from shared.catalogue import Catalogue, parse_catalogue


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("金融街3号楼前路灯不亮了, 晚上很黑", "street_light_out"),
        ("我家停水了, 一滴水都没有", "water_outage"),
        ("楼道里闻到很重的煤气味, 怕是漏气", "gas_smell"),
        ("楼道里堆满了杂物和花盆", "corridor_clutter"),
        ("家里暖气不热, 室温只有十五度", "no_heating"),
        ("楼上邻居吵架, 每天晚上都有纠纷", "neighbour_dispute"),
        ("社区没有老年食堂, 老人吃饭难", "elderly_canteen"),
        ("买菜难, 附近没有菜市场", "vegetable_shopping"),
        ("暑假孩子没地方玩", "pupil_summer_activities"),
        ("The street light outside building 3 is out", "street_light_out"),
        ("There is a strong gas smell in the stairwell, maybe a gas leak", "gas_smell"),
        ("No water since this morning, the water is off in the whole block", "water_outage"),
        ("Loud music every night, too loud to sleep", "noise"),
        ("The radiator is cold, no heating at all", "no_heating"),
        ("Power cut in our building, no electricity", "power_outage"),
        ("ＳＴＲＥＥＴ　ＬＩＧＨＴ broken", "street_light_out"),  # full-width input from phone keyboards
    ],
)
def test_samples_get_their_category(catalogue: Catalogue, text: str, category: str) -> None:
    choice = classify(catalogue, text)
    assert choice.category == category
    assert choice.classification is not None
    assert choice.classification.confidence >= 0.5
    assert choice.classification.candidates[0].code == category


@pytest.mark.parametrize("text", ["请联系我", "Please call me back", "有个问题想反映一下"])
def test_no_evidence_goes_to_triage(catalogue: Catalogue, text: str) -> None:
    choice = classify(catalogue, text)
    assert choice.category is None
    assert choice.classification is not None
    assert choice.classification.confidence < 0.5


def test_ambiguous_text_goes_to_triage_with_candidates(catalogue: Catalogue) -> None:
    # One weak word for each of two categories: neither is sure enough.
    choice = classify(catalogue, "纠纷 噪音")
    assert choice.category is None
    assert choice.classification is not None
    assert {c.code for c in choice.classification.candidates} == {"neighbour_dispute", "noise"}


def test_threshold_is_a_setting(catalogue: Catalogue) -> None:
    assert classify(catalogue, "路灯", threshold=0.5).category == "street_light_out"
    assert classify(catalogue, "路灯", threshold=0.95).category is None


def test_rules_are_catalogue_data_and_a_new_version_applies(catalogue: Catalogue) -> None:
    assert classifier_for(catalogue) is classifier_for(catalogue)
    assert classify(catalogue, "楼上装修电钻声").category is None
    data = catalogue.to_dict()
    noise = next(c for c in data["categories"] if c["code"] == "noise")
    noise["keywords"]["zh"].append("电钻声")
    data["version"] += 1
    changed = parse_catalogue(data)
    assert classify(changed, "楼上装修电钻声").category == "noise"


@pytest.mark.parametrize(
    ("label", "code"),
    [("street_light_out", "street_light_out"), ("路灯不亮", "street_light_out"), ("楼道堆物", "corridor_clutter"),
     ("Noise nuisance", "noise"), ("花盆乱放", "corridor_clutter"), ("什么", None)],
)  # fmt: skip
def test_category_from_label(catalogue: Catalogue, label: str, code: str | None) -> None:
    assert category_from_label(catalogue, label) == code
