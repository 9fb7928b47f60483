"""docs/clinical.md lists every rule, every entity and every feature with its points."""

from __future__ import annotations

from pathlib import Path

from cnmri.assess.clinical.cns_status import RULES
from cnmri.assess.clinical.differential import DATA_FILE, DIFFERENTIAL_VERSION, ENTITIES
from cnmri.assess.clinical.next_steps import STEP_IDS

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


def test_the_data_file_its_version_and_every_next_step_are_documented() -> None:
    assert DATA_FILE in DOC and f'version: "{DIFFERENTIAL_VERSION}"' in DOC
    for step_id in STEP_IDS:
        assert f"| `{step_id}` |" in DOC


def test_the_invented_label_is_retired() -> None:
    assert "CNS3-equivalent" not in DOC
    for rule in RULES.values():
        assert "CNS3-equivalent" not in rule.text
