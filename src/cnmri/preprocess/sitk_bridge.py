"""Convert between :class:`Volume` (RAS affine, array in i,j,k order) and SimpleITK images (LPS).

This is the only place where the RAS↔LPS flip happens.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from cnmri.volume import Volume

_FLIP_XY = np.diag([-1.0, -1.0, 1.0])


def to_sitk(volume: Volume) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.data.transpose(2, 1, 0), dtype=np.float32))
    zooms = np.asarray(volume.zooms_mm)
    direction_ras = volume.affine[:3, :3] / zooms
    image.SetSpacing(tuple(float(z) for z in zooms))
    image.SetOrigin(tuple(float(v) for v in _FLIP_XY @ volume.affine[:3, 3]))
    image.SetDirection(tuple(float(v) for v in (_FLIP_XY @ direction_ras).ravel()))
    return image


def from_sitk(image: sitk.Image, name: str = "image", source: str = "") -> Volume:
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float32)
    spacing = np.asarray(image.GetSpacing())
    direction_lps = np.asarray(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = (_FLIP_XY @ direction_lps) * spacing
    affine[:3, 3] = _FLIP_XY @ np.asarray(image.GetOrigin())
    return Volume(data, affine, name, source)
