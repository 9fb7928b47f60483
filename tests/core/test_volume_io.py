from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.conftest import save

from cnmri.errors import InputError
from cnmri.io.nifti import load_volume


def test_any_orientation_is_reordered_to_ras_keeping_world_positions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.random((20, 24, 28)).astype(np.float32)
    affine = np.array([[0, 0, -1.2, 40], [-0.9, 0, 0, 30], [0, 1.5, 0, -20], [0, 0, 0, 1.0]])
    volume = load_volume(save(tmp_path, "las.nii.gz", data, affine), "pre")
    assert volume.orientation == ("R", "A", "S")
    # the value at a world point is unchanged by the reordering
    ijk_src = np.array([3, 5, 7])
    world = affine[:3, :3] @ ijk_src + affine[:3, 3]
    ijk_new = np.round(volume.world_to_voxel(world[None])[0]).astype(int)
    assert volume.data[tuple(ijk_new)] == pytest.approx(data[tuple(ijk_src)])
    assert sorted(volume.zooms_mm) == pytest.approx([0.9, 1.2, 1.5])


@pytest.mark.parametrize(
    ("shape", "fill", "message"),
    [
        ((30, 30), 1.0, "2 dimensions"),
        ((30, 30, 30, 3), 1.0, "4 dimensions"),
        ((30, 30, 30), 7.0, "constant"),
        ((30, 30, 3), 1.0, "thin slab"),
    ],
)
def test_unusable_shapes_and_values_are_refused(
    tmp_path: Path, shape: tuple[int, ...], fill: float, message: str
) -> None:
    data = np.full(shape, fill, dtype=np.float32)
    if fill == 1.0 and len(shape) >= 3:
        data[..., 0] = 0
    if len(shape) == 2:
        data[0] = 0
    path = save(tmp_path, "x.nii.gz", data, np.eye(4))
    with pytest.raises(InputError, match=message):
        load_volume(path, "post")


def test_nan_voxels_are_refused_with_their_count(tmp_path: Path) -> None:
    data = np.ones((20, 20, 20), dtype=np.float32)
    data[1, 2, 3] = np.nan
    data[4, 4, 4] = np.inf
    with pytest.raises(InputError, match="2 NaN or infinite"):
        load_volume(save(tmp_path, "nan.nii.gz", data, np.eye(4)), "pre")


def test_not_nifti_and_missing_files_are_named(tmp_path: Path) -> None:
    junk = tmp_path / "scan.nii.gz"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(InputError, match=r"scan\.nii\.gz is not a readable NIfTI"):
        load_volume(junk, "post")
    with pytest.raises(InputError, match="does not exist"):
        load_volume(tmp_path / "nope.nii.gz", "pre")


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = np.random.default_rng(1).random((40, 40, 40)).astype(np.float32)
    path = save(tmp_path, "full.nii.gz", data, np.eye(4))
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut\.nii\.gz"):
        load_volume(cut, "pre")


def test_singleton_fourth_dimension_is_accepted(tmp_path: Path) -> None:
    data = np.random.default_rng(2).random((16, 16, 16, 1)).astype(np.float32)
    volume = load_volume(save(tmp_path, "one.nii.gz", data, np.eye(4)), "post")
    assert volume.shape == (16, 16, 16)
    assert isinstance(nib.load(str(tmp_path / "one.nii.gz")), nib.Nifti1Image)
