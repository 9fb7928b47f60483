"""The CNS status rule texts and sources are data: schema-checked at load, and what the output cites."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cnmri.assess.clinical import cns_status
from cnmri.assess.clinical.cns_status import (
    RULE_IDS_USED,
    RULES,
    RULES_FILE,
    RULES_VERSION,
    Rule,
    assess_cns_status,
    parse_rules,
    rules_data,
)
from cnmri.assess.clinical.model import ClinicalCase
from cnmri.ruledata import RuleDataError


def test_every_cited_rule_is_in_the_data_with_its_source() -> None:
    assert RULES_FILE == "cns_rules_v1.yaml" and RULES_VERSION == "1.0"
    assert set(RULES) == RULE_IDS_USED
    data = rules_data()
    by_id = {item["id"]: item for item in data["rules"]}
    for rule in RULES.values():
        assert by_id[rule.id] == {
            "id": rule.id,
            "text": rule.text,
            "source": rule.source,
            "confidence": rule.confidence,
        }
    # the definitions themselves, as published (NCI PDQ)
    assert RULES["cns2"].text == "CSF WBC <5/µL with blasts: CNS2."
    assert RULES["cns3_csf"].source.startswith("NCI PDQ Childhood ALL Treatment")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["rules"].pop(0), "cns_rules_v1.yaml: rules: cns1 missing; the CNS status cites them"),
        (
            lambda d: d["rules"].append({"id": "cns4", "text": "x", "source": "y", "confidence": "H"}),
            "cns_rules_v1.yaml: rules[20] (cns4): not a rule the CNS status cites",
        ),
        (lambda d: d["rules"].append(dict(d["rules"][1])), "cns_rules_v1.yaml: rules[20] (cns2): duplicate id"),
        (lambda d: d["rules"][2].update(confidence="high"), "cns_rules_v1.yaml: rules[2].confidence: Input should be"),
        (lambda d: d["rules"][3].pop("source"), "cns_rules_v1.yaml: rules[3].source: Field required"),
        (lambda d: d["rules"][3].update(source=""), "cns_rules_v1.yaml: rules[3].source: String should have at least"),
        (lambda d: d["rules"][4].update(sources="z"), "cns_rules_v1.yaml: rules[4].sources: Extra inputs"),
    ],
)
def test_a_broken_rules_file_is_refused_naming_the_rule(edit: Any, message: str) -> None:
    data = copy.deepcopy(rules_data())
    edit(data)
    with pytest.raises(RuleDataError) as caught:
        parse_rules(data)
    assert str(caught.value).startswith(message)


def test_the_output_cites_the_text_and_source_of_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    case = ClinicalCase.model_validate(
        {"disease": {"type": "B-ALL"}, "csf": {"blasts": True, "wbc_per_ul": 3, "rbc_per_ul": 0}}
    )
    before = assess_cns_status(case)
    assert before["category"] == "CNS2"
    assert RULES["cns2"].text in before["rules"] and RULES["cns2"].source in before["sources"]
    edited = dict(RULES)
    edited["cns2"] = Rule("cns2", "Edited definition of CNS2.", "Edited source 2026", "H")
    monkeypatch.setattr(cns_status, "RULES", edited)
    after = assess_cns_status(case)
    assert "Edited definition of CNS2." in after["rules"]
    assert "Edited source 2026" in after["sources"]
