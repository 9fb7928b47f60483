"""docs/clinical.md lists every rule, every entity and every feature with its points."""

from __future__ import annotations

from pathlib import Path

from cnmri.assess.clinical.cns_status import RULES
from cnmri.assess.clinical.differential import ENTITIES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "clinical.md").read_text(encoding="utf-8")


def test_every_rule_is_documented_with_its_source() -> None:
    for rule in RULES.values():
        assert f"| `{rule.id}` | {rule.text} | {rule.source} | {rule.confidence} |" in DOC


def test_every_feature_is_documented_with_its_points() -> None:
    for entity in ENTITIES:
        assert f"### `{entity.id}`" in DOC
        section = DOC.split(f"### `{entity.id}`", 1)[1].split("### ", 1)[0]
        assert f"Base points {entity.base:+.1f}." in section
        for feature in entity.features:
            assert f"| {feature.text} | {feature.points:+.1f} |" in section
            assert feature.source in section
