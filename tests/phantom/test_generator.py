from __future__ import annotations

import json

import numpy as np
import pytest

from cnmri.atlas.model import Atlas
from cnmri.errors import InputError
from cnmri.phantom import render
from cnmri.phantom.generator import (
    LesionSpec,
    PhantomSpec,
    Realism,
    demo_spec,
    generate_case,
    spec_from_dict,
    write_case,
)
from cnmri.volume import Volume


def _cn7_left(contrast: float = 0.8) -> PhantomSpec:
    return PhantomSpec((LesionSpec("CN7", "left", ("cisternal", "canalicular"), contrast, 3.0),))


def test_same_seed_same_arrays(base2mm: Volume, small_atlas: Atlas) -> None:
    spec = PhantomSpec(_cn7_left().lesions, realism=Realism(snr=30.0))
    a = generate_case(spec, 7, base2mm, small_atlas, supersample=2)
    b = generate_case(spec, 7, base2mm, small_atlas, supersample=2)
    c = generate_case(spec, 8, base2mm, small_atlas, supersample=2)
    assert a.pre.data.tobytes() == b.pre.data.tobytes()
    assert a.post.data.tobytes() == b.post.data.tobytes()
    assert a.pre.data.tobytes() != c.pre.data.tobytes()


def test_lesion_where_truth_says(base2mm: Volume, small_atlas: Atlas) -> None:
    spec = PhantomSpec(_cn7_left().lesions, physiologic=False)
    case = generate_case(spec, 1, base2mm, small_atlas, supersample=3)
    diff = case.post.data - case.pre.data
    wm = case.truth["wm_signal_base"]
    assert case.truth["abnormal_nerves"] == ["CN7-left"]
    assert case.truth["abnormal_segments"] == ["CN7-left-canalicular", "CN7-left-cisternal"]
    tube = np.zeros(base2mm.shape, dtype=bool)
    for seg in case.truth["lesions"][0]["segments"]:
        patch = render.tube(base2mm.shape, base2mm.affine, np.array(seg["template_points_mm"]), 3.5, None, 1)
        tube.reshape(-1)[patch.index] = True
    peak = np.unravel_index(np.argmax(diff), diff.shape)
    assert tube[peak]
    assert diff.max() == pytest.approx(0.8 * wm, rel=0.15)
    assert np.abs(diff[~tube]).max() < 1e-3  # nothing else enhances without physiology
    # Thickening shows on the pre-contrast image too: nerve tissue replaces dark CSF.
    assert (case.pre.data[tube] - base2mm.data[tube]).max() > 0.1 * wm


def test_partial_volume_thin_tube() -> None:
    affine = np.eye(4)
    patch = render.tube((20, 20, 20), affine, np.array([[10.0, 10.0, 2.0], [10.0, 10.0, 18.0]]), 1.0, None, 5)
    frac = patch.to_dense((20, 20, 20))
    # Cross-section area π r² ≈ 3.14 voxels per slice, spread over several partial voxels.
    assert frac[:, :, 10].sum() == pytest.approx(np.pi, rel=0.1)
    assert 0 < frac[:, :, 10].max() <= 1.0
    assert ((frac[:, :, 10] > 0) & (frac[:, :, 10] < 1)).sum() >= 4


def test_physiologic_structures_present(base2mm: Volume, small_atlas: Atlas) -> None:
    case = generate_case(PhantomSpec(), 2, base2mm, small_atlas, supersample=2)
    groups = {s["group"] for s in case.truth["physiologic_structures"]}
    assert {
        "venous_sinus",
        "cavernous_sinus",
        "choroid_plexus",
        "pituitary",
        "perineural_plexus",
        "facial_normal",
        "vessel",
    } <= groups
    names = " ".join(s["name"] for s in case.truth["physiologic_structures"])
    for word in ("hypoglossal", "foramen ovale", "Dorello", "geniculate", "anterior inferior cerebellar"):
        assert word in names
    assert case.truth["abnormal_nerves"] == []
    diff = case.post.data - case.pre.data
    wm = case.truth["wm_signal_base"]
    sss = np.array([0.0, 0.0, 77.0])
    ijk = np.round(case.post.world_to_voxel(sss)[0]).astype(int)
    assert diff[tuple(ijk)] > 0.4 * wm
    assert np.array_equal(case.pre.data, base2mm.data)  # control: pre is the head unchanged


def test_demo_spec_keeps_pre(base2mm: Volume, small_atlas: Atlas) -> None:
    spec = demo_spec()
    assert {les.label for les in spec.lesions} == {"CN7-left", "CN7-right", "CN9-left", "CN9-right"}
    case = generate_case(spec, 0, base2mm, small_atlas, supersample=1)
    assert np.array_equal(case.pre.data, base2mm.data)
    assert case.truth["abnormal_nerves"] == ["CN7-left", "CN7-right", "CN9-left", "CN9-right"]


def test_realism_maps_truth_points(base2mm: Volume, small_atlas: Atlas) -> None:
    # A bright dot in template space must land where the recorded map puts it, in pre and post.
    from cnmri.phantom.realism import SubjectMap

    dot = np.array([-20.0, -28.0, -40.0])
    data = np.zeros(base2mm.shape, dtype=np.float32)
    data[...] = base2mm.data
    patch = render.ellipsoid(base2mm.shape, base2mm.affine, dot, np.full(3, 3.0), 2)
    data.reshape(-1)[patch.index] += 2000.0 * patch.fraction.astype(np.float32)
    base = base2mm.with_data(data)
    realism = Realism(pose=True, deformation=True, head_scale=True, motion=True, voxel_size_mm=(1.2, 1.2, 1.2))
    case = generate_case(PhantomSpec(physiologic=False, realism=realism), 11, base, small_atlas, supersample=1)
    mapping = SubjectMap.from_truth(case.truth["subject_map"])
    assert not mapping.is_identity
    for vol, post in ((case.pre, False), (case.post, True)):
        expected = mapping.template_to_subject(dot, post=post)[0]
        bright = vol.data > 0.5 * vol.data.max()
        centroid = vol.voxel_to_world(np.argwhere(bright).mean(axis=0))[0]
        assert np.linalg.norm(centroid - expected) < 1.5
    # Round trip of the map itself.
    q = np.array([[0.0, -20.0, -40.0], [30.0, -25.0, -45.0]])
    assert np.allclose(mapping.subject_to_template(mapping.template_to_subject(q)), q, atol=1e-3)
    assert np.allclose(mapping.subject_to_template(mapping.template_to_subject(q, post=True), post=True), q, atol=1e-3)
    lm = case.truth["landmarks"]["clivus_mid"]
    assert np.allclose(mapping.template_to_subject(np.array(lm["template_mm"]))[0], lm["subject_mm"], atol=1e-3)


def test_noise_and_bias(base2mm: Volume, small_atlas: Atlas) -> None:
    spec = PhantomSpec(physiologic=False, realism=Realism(bias_field=True, snr=20.0))
    case = generate_case(spec, 3, base2mm, small_atlas, supersample=1)
    assert case.truth["realism"]["noise"]["snr"] == 20.0
    air = case.pre.data[:5, :5, :5]
    assert air.mean() > 0  # Rician floor in the background
    assert not np.array_equal(case.pre.data, base2mm.data)


@pytest.mark.parametrize(
    ("lesion", "message"),
    [
        (LesionSpec("CN13", "left"), "unknown nerve"),
        (LesionSpec("CN7", "middle"), "unknown side"),
        (LesionSpec("CN7", "left", ("nope",)), "unknown segment"),
        (LesionSpec("CN7", "left", None, 9.0), "contrast"),
        (LesionSpec("CN7", "left", None, 0.5, 20.0), "thickness"),
    ],
)
def test_bad_spec(base2mm: Volume, small_atlas: Atlas, lesion: LesionSpec, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_case(PhantomSpec((lesion,)), 0, base2mm, small_atlas)


def test_not_a_head(small_atlas: Atlas) -> None:
    blob = Volume(np.random.default_rng(0).random((30, 30, 30)).astype(np.float32), np.eye(4))
    with pytest.raises(InputError, match="head"):
        generate_case(PhantomSpec(), 0, blob, small_atlas)


def test_write_case_and_spec_roundtrip(base2mm: Volume, small_atlas: Atlas, tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "case"
    spec = PhantomSpec(_cn7_left().lesions, realism=Realism(snr=25.0))
    write_case(generate_case(spec, 4, base2mm, small_atlas, supersample=1), out)
    written = sorted(p.name for p in out.iterdir() if p.name != ".cnmri-output")
    assert written == ["post.nii.gz", "pre.nii.gz", "truth.json"]
    truth = json.loads((out / "truth.json").read_text())
    assert spec_from_dict(truth["spec"]) == spec
    seg = truth["lesions"][0]["segments"][0]
    assert len(seg["subject_points_mm"]) == len(seg["template_points_mm"])
