"""The one geometry value object: a 3D array with its voxel-to-world (RAS, mm) affine."""

from __future__ import annotations

from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Volume:
    """A 3D image on a grid.

    ``affine`` maps voxel indices (i, j, k) to world RAS millimetres. ``source`` says where the data
    came from (a file, or the computation that made it), so every derived measurement can cite it.
    """

    data: NDArray[np.floating]
    affine: FloatArray
    name: str = "image"
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"a 3D array is needed, received shape {self.data.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"the affine must be 4x4, received {affine.shape}")
        if not np.allclose(affine[3], [0, 0, 0, 1]):
            raise ValueError(f"the affine's last row must be [0 0 0 1], received {affine[3]}")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-6:
            raise ValueError("the affine is singular (zero voxel size or collinear axes)")
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.data.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def zooms_mm(self) -> tuple[float, float, float]:
        z = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))

    @property
    def orientation(self) -> tuple[str, ...]:
        return tuple(str(c) for c in nib.aff2axcodes(self.affine))

    def with_data(self, data: NDArray[np.floating], name: str | None = None, source: str | None = None) -> Volume:
        """Same grid, new voxel values."""
        return Volume(data, self.affine, name or self.name, self.source if source is None else source, dict(self.meta))

    def as_closest_canonical(self) -> Volume:
        """Reorder/flip axes (no resampling) so that the array is RAS+."""
        image = nib.as_closest_canonical(nib.Nifti1Image(self.data, self.affine))
        return Volume(
            np.asarray(image.dataobj, dtype=np.float32), image.affine, self.name, self.source, dict(self.meta)
        )

    def world_to_voxel(self, points_mm: FloatArray) -> FloatArray:
        """(N, 3) world RAS mm → (N, 3) continuous voxel indices."""
        return world_to_voxel(self.affine, points_mm)

    def voxel_to_world(self, ijk: FloatArray) -> FloatArray:
        pts = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
        return pts @ self.affine[:3, :3].T + self.affine[:3, 3]


def world_to_voxel(affine: FloatArray, points_mm: FloatArray) -> FloatArray:
    """(N, 3) world RAS mm → (N, 3) continuous voxel indices of the grid with this voxel-to-world affine."""
    inv = np.linalg.inv(affine)
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    return pts @ inv[:3, :3].T + inv[:3, 3]


__all__ = ["FloatArray", "Volume", "world_to_voxel"]
