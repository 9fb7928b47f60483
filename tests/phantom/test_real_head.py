"""Cases on a second head: placement through a head map, partial field of view, scoring outside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnmri.atlas import Atlas
from cnmri.phantom.evaluate import score_case
from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism
from cnmri.phantom.real_head import HeadMap, generate_on_head
from cnmri.volume import Volume

SEG3D = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "seg3d_t1.nii.gz"


def _cut_below(head: Volume, z_mm: float) -> Volume:
    """The head with every slice below ``z_mm`` removed: a field of view ending above the skull base."""
    k0 = int(np.ceil(head.world_to_voxel(np.array([[0.0, 0.0, z_mm]]))[0][2]))
    affine = head.affine.copy()
    affine[:3, 3] = head.affine[:3, :3] @ np.array([0.0, 0.0, k0]) + head.affine[:3, 3]
    return Volume(np.ascontiguousarray(head.data[:, :, k0:]), affine, head.name, "cut head")


def test_partial_fov_places_lesions_inside_and_records_exclusions(base2mm: Volume, small_atlas: Atlas) -> None:
    head = _cut_below(base2mm, -50.0)
    spec = PhantomSpec(
        (LesionSpec("CN7", "left", None, 0.8, 3.0), LesionSpec("CN12", "right", None, 0.8, 3.0)),
        realism=Realism(series_scaling=True),
        physiology_model="C",
    )
    case = generate_on_head(spec, 3, head, HeadMap.from_affine(np.eye(4)), small_atlas, supersample=1)
    fov = case.truth["field_of_view"]
    # The small atlas's CN9 (z −51 to −63) and CN12 (z −63 to −67) lie below the cut; CN7 (z −40) inside.
    assert {"CN9-left-cisternal", "CN12-right-hypoglossal_canal"} <= set(fov["excluded_segments"])
    assert not any(k.startswith("CN7") for k in fov["excluded_segments"])
    assert {"CN9-left", "CN9-right", "CN12-left", "CN12-right"} <= set(fov["excluded_nerves"])
    assert fov["skipped_lesions"] == [{"lesion": "CN12-right", "reason": "no segment of it inside the field of view"}]
    assert case.truth["abnormal_nerves"] == ["CN7-left"]
    # Every lesion point lies inside the image, and the post image enhances there.
    gain = case.truth["realism"]["series_scaling"]
    wm = case.truth["wm_signal_base"]
    for seg in case.truth["lesions"][0]["segments"]:
        pts = np.asarray(seg["subject_points_mm"])
        ijk = head.world_to_voxel(pts)
        assert (ijk >= 0).all() and (ijk <= np.array(head.shape) - 1).all()
        mid = np.round(ijk[len(ijk) // 2]).astype(int)
        post = (case.post.data[tuple(mid)] - gain["post"]["offset"]) / gain["post"]["gain"]
        pre = (case.pre.data[tuple(mid)] - gain["pre"]["offset"]) / gain["pre"]["gain"]
        assert post - pre > 0.4 * wm
    # Calling a nerve outside the field of view is not a false positive; a missed CN7 is a miss.
    findings = {
        "segments": [],
        "nerves": [
            {"nerve": "CN12", "side": "left", "abnormal": True, "abnormal_segments": ["hypoglossal_canal"]},
            {"nerve": "CN7", "side": "left", "abnormal": False, "abnormal_segments": []},
        ],
    }
    scored = score_case(case.truth, findings, "cut")
    assert (scored.tp, scored.fp, scored.fn) == (0, 0, 1)
    assert scored.tn == 22 - len(fov["excluded_nerves"]) - 1


@pytest.mark.skipif(not SEG3D.exists(), reason="second real head not available")
def test_second_real_head_stays_the_pre_image(small_atlas: Atlas) -> None:
    from cnmri.io.nifti import load_volume
    from cnmri.phantom.bench import downsampled_base

    head = downsampled_base(2, load_volume(SEG3D, "pre"))
    # A rough template → head map: the head's centroid stands where Colin27's is (about the origin).
    data = np.asarray(head.data)
    centre = head.voxel_to_world(np.argwhere(data > 0.3 * data.max()).mean(axis=0)[None, :])[0]
    affine = np.eye(4)
    affine[:3, 3] = centre - np.array([0.0, -18.0, 0.0])
    case = generate_on_head(PhantomSpec(physiology_model="B"), 1, head, HeadMap.from_affine(affine), small_atlas, 1)
    np.testing.assert_array_equal(case.pre.data, head.data.astype(np.float32))
    diff = case.post.data - case.pre.data
    assert diff.min() >= -1e-3 and diff.max() > 0.5 * case.truth["wm_signal_base"]
    assert case.truth["kind"] == "cnmri-phantom-real-head" and case.truth["abnormal_nerves"] == []


def test_anatomy_squashed_into_the_image_edge_counts_as_outside(base2mm: Volume, small_atlas: Atlas) -> None:
    # A map that squashes everything below z = −48 mm tenfold, as a registration does with anatomy
    # missing from a partial field of view.
    axes = tuple(np.arange(-80.0, 81.0, 2.0) for _ in range(3))
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    mapped = grid.copy()
    below = grid[..., 2] < -48.0
    mapped[..., 2][below] = -48.0 + 0.1 * (grid[..., 2][below] + 48.0)
    head_map = HeadMap((axes[0], axes[1], axes[2]), mapped, np.eye(4))
    assert head_map.relative_jacobian(np.array([[0.0, 0.0, -60.0]]))[0] == pytest.approx(0.1, abs=0.01)
    assert head_map.relative_jacobian(np.array([[0.0, 0.0, -30.0]]))[0] == pytest.approx(1.0, abs=0.01)
    spec = PhantomSpec((LesionSpec("CN12", "left", None, 0.8, 3.0),), physiology_model="B")
    case = generate_on_head(spec, 2, base2mm, head_map, small_atlas, supersample=1)
    reasons = case.truth["field_of_view"]["excluded_segment_reasons"]
    assert "squashed" in reasons["CN12-left-hypoglossal_canal"]
    assert "CN12-left" in case.truth["field_of_view"]["excluded_nerves"]
    assert case.truth["abnormal_nerves"] == []
    assert not any(k.startswith("CN7") for k in reasons)
