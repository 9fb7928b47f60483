"""Load NIfTI images into :class:`cnmri.volume.Volume`, refusing what cannot be a 3D head image."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from cnmri.errors import InputError
from cnmri.io.limits import check_gzip_size, check_image_size, max_image_bytes
from cnmri.volume import Volume

#: Room for NIfTI extensions and padding beyond what the header describes, in a .nii.gz.
_GZIP_SLACK_BYTES = 16 * 1024 * 1024


def load_volume(path: Path | str, role: str = "image") -> Volume:
    """Read a 3D NIfTI file as a RAS-canonical float32 :class:`Volume`.

    ``role`` ("pre", "post", ...) is only used to make messages name what the user passed.
    Raises :class:`InputError` for a missing or unreadable file, a non-NIfTI file, a 2D or 4D image,
    non-finite voxels, an empty/constant image or a degenerate affine.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{role} image {path} does not exist")
    if path.is_dir():
        raise InputError(f"{role} image {path} is a folder; give a .nii or .nii.gz file")
    try:
        image = nib.load(str(path))
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as err:
        raise InputError(f"{role} image {path} is not a readable NIfTI file ({err})") from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(f"{role} image {path} is a {type(image).__name__}, not NIfTI; convert it first")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) == 4 and shape[3] == 1:
        image = image.slicer[..., 0]
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{role} image {path} has {len(shape)} dimensions {shape}; a 3D volume is needed")
    if min(shape) < 8:
        raise InputError(f"{role} image {path} has shape {shape}: a 2D slice or a thin slab, not a 3D head volume")
    _check_claimed_size(image, path, role)
    try:
        data = np.asarray(image.dataobj, dtype=np.float32)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise InputError(
            f"{role} image {path}: the voxel data cannot be read ({err}); the file is truncated?"
        ) from None
    except MemoryError:
        raise InputError(f"{role} image {path} does not fit in memory; free memory or use a smaller image") from None
    finite = np.isfinite(data)
    if not finite.all():
        bad = int((~finite).sum())
        raise InputError(f"{role} image {path} has {bad} NaN or infinite voxels; fix or re-export the image")
    if float(data.max()) == float(data.min()):
        raise InputError(f"{role} image {path} is constant ({float(data.min())}); it holds no image")
    affine = np.asarray(image.affine, dtype=np.float64)
    try:
        volume = Volume(data, affine, name=role, source=str(path))
    except ValueError as err:
        raise InputError(f"{role} image {path}: {err}") from None
    return volume.as_closest_canonical()


def _check_claimed_size(image: nib.Nifti1Image | nib.Nifti2Image, path: Path, role: str) -> None:
    """Refuse, before allocating, an image whose header (or gzip stream) is larger than the limits."""
    header = image.header
    voxels = int(np.prod([int(s) for s in image.shape], dtype=np.int64))
    itemsize = max(int(header.get_data_dtype().itemsize), 4)  # it is converted to float32
    check_image_size(f"{role} image {path}", voxels, voxels * itemsize)
    if str(path).lower().endswith(".gz"):
        described = int(header.get_data_offset()) + voxels * int(header.get_data_dtype().itemsize)
        check_gzip_size(path, min(max_image_bytes(), described + _GZIP_SLACK_BYTES), f"{role} image {path}")


def save_volume(volume: Volume, path: Path, dtype: type | None = None) -> None:
    data = volume.data if dtype is None else volume.data.astype(dtype)
    image = nib.Nifti1Image(data, volume.affine)
    image.set_qform(volume.affine, code=1)
    image.set_sform(volume.affine, code=1)
    nib.save(image, str(path))
