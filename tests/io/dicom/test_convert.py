"""Conversion: voxel-for-voxel geometry round trips, dcm2niix agreement, missing/duplicate slices,
compressed transfer syntaxes, enhanced multi-frame, gantry tilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pydicom.data
import pytest
from dicom_study_builder import Study, StudyWriter, build_siemens_study, colin_head, slice_datasets
from numpy.typing import NDArray
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from cnmri.errors import InputError
from cnmri.io.dicom.convert import assemble, convert_stack
from cnmri.io.dicom.discover import Stack, discover

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def _stack(root: Path, number: int) -> Stack:
    return next(s for s in discover(root).series if s.number == number).main_stack


def assert_same_world(path: Path, source: NDArray[np.int16], source_affine: NDArray[np.float64]) -> None:
    """Every converted voxel holds the source value of the source voxel at the same world (RAS) point."""
    image = nib.load(str(path))
    data = np.asarray(image.dataobj)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in data.shape], indexing="ij"), axis=-1).reshape(-1, 3)
    world = ijk @ image.affine[:3, :3].T + image.affine[:3, 3]
    src = world @ np.linalg.inv(source_affine)[:3, :3].T + np.linalg.inv(source_affine)[:3, 3]
    assert np.abs(src - np.rint(src)).max() < 1e-3  # the grids coincide
    src_idx = np.rint(src).astype(int)
    assert data.shape == source.shape
    np.testing.assert_array_equal(data.reshape(-1), source[tuple(src_idx.T)])


def test_axial_series_round_trip(siemens: StudyWriter, tmp_path: Path) -> None:
    pre = siemens.series[5]
    result = convert_stack(_stack(siemens.root, 5), tmp_path / "pre.nii.gz", backend="pydicom")
    assert result.backend == "pydicom" and result.shape == pre.data.shape
    assert_same_world(result.path, pre.data, pre.affine)


def test_oblique_series_round_trip(oblique_study: StudyWriter, tmp_path: Path) -> None:
    post = oblique_study.series[7]
    assert abs(post.affine[1, 2]) > 0.1  # really oblique
    result = convert_stack(_stack(oblique_study.root, 7), tmp_path / "post.nii.gz")
    assert_same_world(result.path, post.data, post.affine)


@pytest.mark.parametrize("fixture", ["siemens", "oblique_study"])
def test_dcm2niix_agrees_voxel_for_voxel(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    writer: StudyWriter = request.getfixturevalue(fixture)
    ours = convert_stack(_stack(writer.root, 7), tmp_path / "ours.nii.gz", backend="pydicom")
    theirs = convert_stack(_stack(writer.root, 7), tmp_path / "theirs.nii.gz", backend="dcm2niix")
    assert theirs.backend == "dcm2niix"
    assert_same_world(ours.path, writer.series[7].data, writer.series[7].affine)
    assert_same_world(theirs.path, writer.series[7].data, writer.series[7].affine)


def test_one_missing_slice_is_filled_and_reported(tmp_path: Path) -> None:
    writer = build_siemens_study(tmp_path / "s", seed=5, missing=[30], extras=False)
    stack = _stack(writer.root, 5)
    assert len(stack.instances) == 59
    result = convert_stack(stack, tmp_path / "pre.nii.gz")
    assert result.shape == (90, 108, 60)
    assert any("1 missing slice" in w and "interpolation" in w for w in result.warnings)
    data = np.asarray(nib.load(str(result.path)).dataobj)
    source = writer.series[5].data.astype(np.float32)
    np.testing.assert_allclose(data[:, :, 30], 0.5 * (source[:, :, 29] + source[:, :, 31]))
    np.testing.assert_array_equal(data[:, :, 31], source[:, :, 31])


def test_two_consecutive_missing_slices_are_an_input_error(tmp_path: Path) -> None:
    writer = build_siemens_study(tmp_path / "s", seed=6, missing=[20, 21], extras=False)
    with pytest.raises(InputError, match=r"2 slice\(s\) missing.*incomplete"):
        convert_stack(_stack(writer.root, 5), tmp_path / "pre.nii.gz")


def test_duplicate_slices(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=12)
    study = Study()
    datasets = slice_datasets(data, affine, study, 5, "t1", {"MRAcquisitionType": "3D"}, 30000)
    for k, ds in enumerate(datasets):
        ds.save_as(tmp_path / f"a{k}", enforce_file_format=True)
    twin = datasets[4]
    twin.SOPInstanceUID = generate_uid()  # same position and pixels, another instance
    twin.save_as(tmp_path / "twin", enforce_file_format=True)
    result = convert_stack(_stack(tmp_path, 5), tmp_path / "v.nii.gz")
    assert result.shape == (45, 54, 12)
    assert any("duplicate slice" in w for w in result.warnings)
    twin.PixelData = (np.asarray(twin.pixel_array) + 1).astype(np.int16).tobytes()
    twin.save_as(tmp_path / "twin", enforce_file_format=True)
    with pytest.raises(InputError, match="two different images at the same position"):
        convert_stack(_stack(tmp_path, 5), tmp_path / "v.nii.gz")


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_pydicom_transfer_syntaxes_decode_to_the_same_pixels(name: str) -> None:
    reference = assemble(discover(PYDICOM_FILES / "MR_small.dcm").series[0].main_stack)
    other = assemble(discover(PYDICOM_FILES / name).series[0].main_stack)
    np.testing.assert_array_equal(other.data, reference.data)
    np.testing.assert_allclose(other.affine_ras, reference.affine_ras)


def test_known_voxel_to_world_point() -> None:
    """MR_small.dcm: voxel (0, 0, 0) is ImagePositionPatient, flipped once from LPS to RAS."""
    ds = pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm")
    volume = assemble(discover(PYDICOM_FILES / "MR_small.dcm").series[0].main_stack)
    lps = np.array([float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(volume.affine_ras[:3, 3], lps * [-1, -1, 1])
    row = np.array([float(v) for v in ds.ImageOrientationPatient[:3]]) * float(ds.PixelSpacing[1])
    np.testing.assert_allclose(volume.affine_ras[:3, 0], row * [-1, -1, 1])


def test_truncated_file_is_reported_not_fatal(tmp_path: Path) -> None:
    shutil.copy(PYDICOM_FILES / "MR_truncated.dcm", tmp_path / "x")
    with pytest.raises(InputError, match="could be read"):
        assemble(discover(tmp_path).series[0].main_stack, "x")


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_compressed_colin_series(syntax: str, tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=10)
    for k, ds in enumerate(slice_datasets(data, affine, Study(), 5, "t1", {"MRAcquisitionType": "3D"}, 30000)):
        ds.compress(syntax)
        ds.save_as(tmp_path / f"s{k}", enforce_file_format=True)
    stack = _stack(tmp_path, 5)
    assert stack.first.transfer_syntax == syntax
    result = convert_stack(stack, tmp_path / "v.nii.gz")
    assert_same_world(result.path, data, affine)


def test_enhanced_multiframe_matches_single_frame(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=16)
    legacy = slice_datasets(data, affine, Study(), 5, "t1_mprage", {"MRAcquisitionType": "3D"}, 30000)
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy,
        series_instance_uid=generate_uid(),
        series_number=50,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    enhanced.save_as(tmp_path / "enhanced.dcm")
    series = discover(tmp_path).series[0]
    assert series.first.is_multiframe and series.first.n_frames == 16
    result = convert_stack(series.main_stack, tmp_path / "v.nii.gz")
    assert_same_world(result.path, data, affine)


def test_gantry_tilt_is_resampled_to_an_orthogonal_grid(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=12)
    sheared = affine.copy()
    sheared[1, 2] = 0.8  # each slice shifted 0.8 mm anteriorly: a tilted stack
    datasets = slice_datasets(
        data, sheared, Study(), 5, "t1", {"MRAcquisitionType": "3D", "GantryDetectorTilt": 11}, 30000
    )
    for k, ds in enumerate(datasets):
        ds.save_as(tmp_path / f"s{k}", enforce_file_format=True)
    result = convert_stack(_stack(tmp_path, 5), tmp_path / "v.nii.gz")
    assert any("off their normal" in w for w in result.warnings)
    rotation = result.affine[:3, :3] / np.linalg.norm(result.affine[:3, :3], axis=0)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-6)
    out = np.asarray(nib.load(str(result.path)).dataobj)
    np.testing.assert_array_equal(out[:, :, 0], data[:, :, 0])  # the first slice does not move
