from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cnmri.errors import InputError
from cnmri.phantom.evaluate import aggregate, discover_cases, labels_to_truth, score_case


def _findings(called: dict[str, list[str]], thickness: float = 2.4) -> dict[str, Any]:
    segments = []
    for nerve_side in ("CN7-left", "CN7-right", "CN12-left"):
        nerve, side = nerve_side.split("-")
        for seg, phys in (("cisternal", False), ("geniculate", True), ("hypoglossal_canal", True)):
            segments.append(
                {
                    "nerve": nerve,
                    "side": side,
                    "segment": seg,
                    "physiologic_enhancement": phys,
                    "abnormal": seg in called.get(nerve_side, []),
                    "thickness_mm": thickness,
                }
            )
    nerves = [
        {"nerve": k.split("-")[0], "side": k.split("-")[1], "abnormal": bool(v), "abnormal_segments": v}
        for k, v in called.items()
    ]
    return {"segments": segments, "nerves": nerves}


TRUTH = {
    "abnormal_nerves": ["CN7-left"],
    "abnormal_segments": ["CN7-left-cisternal"],
    "lesions": [
        {
            "nerve": "CN7",
            "side": "left",
            "contrast_wm": 0.6,
            "thickness_mm": 2.5,
            "segments": [{"key": "CN7-left-cisternal", "segment": "cisternal"}],
        }
    ],
    "realism": {"noise": {"snr": 30.0}},
}
CONTROL = {"abnormal_nerves": [], "abnormal_segments": [], "lesions": [], "realism": {"noise": {"snr": 30.0}}}


def test_perfect_detection() -> None:
    s = score_case(TRUTH, _findings({"CN7-left": ["cisternal"]}), "a", 2.0)
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 0, 0, 21)
    assert (s.segment_tp, s.segment_fp, s.segment_fn) == (1, 0, 0)
    assert s.thickness_errors_mm == (("CN7-left-cisternal", 2.5, pytest.approx(0.1)),)
    assert s.contrast == 0.6 and s.snr == 30.0


def test_miss_and_false_positive_on_physiologic_segment() -> None:
    s = score_case(TRUTH, _findings({"CN12-left": ["hypoglossal_canal"]}), "b")
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.physiologic_false_calls == ("CN12-left-hypoglossal_canal",)


def test_aggregate_metrics() -> None:
    scores = [
        score_case(TRUTH, _findings({"CN7-left": ["cisternal"]}), "hit", 10.0),
        score_case(dict(TRUTH, lesions=[dict(TRUTH["lesions"][0], contrast_wm=0.2)]), _findings({}), "faint"),
        score_case(CONTROL, _findings({}), "c1", 8.0),
        score_case(CONTROL, _findings({"CN7-right": ["geniculate"]}), "c2", 9.0),
    ]
    m = aggregate(scores)
    h = m["headline"]
    assert h["cases"] == 3  # the faint lesion is below the headline contrast
    assert h["sensitivity"] == 1.0
    assert h["fp_nerves_per_control"] == 0.5
    assert h["physiologic_false_call_rate_in_controls"] == {"CN7-right-geniculate": 0.5}
    assert m["all_cases"]["sensitivity"] == 0.5
    assert {r["contrast"]: r["sensitivity"] for r in m["detection_vs_contrast"]} == {0.2: 0.0, 0.6: 1.0}
    assert m["targets"]["sensitivity_ge_0.95"] is True
    assert m["targets"]["fp_nerves_per_control_le_0.1"] is False
    assert h["seconds_per_case"]["median"] == 9.0


def test_registration_error_by_landmark() -> None:
    truth = dict(CONTROL, landmarks={"clivus_mid": {"template_mm": [0, -7, -40], "subject_mm": [1.0, 2.0, 3.0]}})
    findings = dict(_findings({}), registration={"skull_base_landmarks_subject_mm": {"clivus_mid": [1.0, 2.0, 6.0]}})
    assert score_case(truth, findings).registration_errors_mm == {"clivus_mid": pytest.approx(3.0)}


def test_labels_and_discovery(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="abnormal_nerves"):
        labels_to_truth({})
    with pytest.raises(InputError, match="unknown nerve"):
        labels_to_truth({"abnormal_nerves": ["CN7-up"]})
    truth = labels_to_truth({"abnormal_nerves": ["CN7-left"], "thickness_mm": {"CN7-left-cisternal": 2.2}})
    assert truth["lesions"][0]["segments"][0]["thickness_mm"] == 2.2
    anat = tmp_path / "sub-01" / "ses-1" / "anat"
    anat.mkdir(parents=True)
    (anat / "sub-01_ses-1_T1w.nii.gz").write_bytes(b"")
    (anat / "sub-01_ses-1_ce-gadolinium_T1w.nii.gz").write_bytes(b"")
    (tmp_path / "sub-01" / "ses-1" / "sub-01_ses-1_labels.json").write_text(json.dumps({"abnormal_nerves": []}))
    cases = discover_cases(tmp_path)
    assert len(cases) == 1
    assert cases[0].pre is not None and cases[0].pre.name == "sub-01_ses-1_T1w.nii.gz"
    assert cases[0].post.name == "sub-01_ses-1_ce-gadolinium_T1w.nii.gz"
    assert cases[0].case_id == "sub-01_ses-1"


def test_ci_suite_with_stand_in_detector(tmp_path: Path) -> None:
    """The CI suite end to end (generate, analyse, score, report) with an oracle stand-in detector;
    the real pipeline runs the same suite in the pipeline's own tests and in `cnmri bench`."""
    from cnmri.phantom.bench import run_suite

    def oracle(pre: Path | None, post: Path, out_dir: Path) -> dict[str, Any]:
        truth = json.loads((post.parent / "truth.json").read_text())
        return {
            "segments": [],
            "nerves": [
                {"nerve": n.split("-")[0], "side": n.split("-")[1], "abnormal": True} for n in truth["abnormal_nerves"]
            ],
        }

    metrics = run_suite("ci", tmp_path / "bench", analyzer=oracle)
    assert metrics["headline"]["sensitivity"] == 1.0
    assert metrics["headline"]["fp_nerves_per_control"] == 0.0
    for name in ("metrics.json", "metrics.md", "detection_vs_contrast.png", "errors.png"):
        assert (tmp_path / "bench" / name).exists()
