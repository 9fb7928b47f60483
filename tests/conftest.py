"""Shared fixtures: the real Colin27 head (Debian mricron-data) and small images built from it."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


@pytest.fixture(scope="session")
def colin27_path() -> Path:
    if not COLIN27.exists():
        pytest.fail(f"{COLIN27} is missing: install Debian's mricron-data (make install does)")
    return COLIN27


@pytest.fixture(scope="session")
def colin27(colin27_path: Path) -> nib.Nifti1Image:
    return nib.load(str(colin27_path))


def save(tmp: Path, name: str, data: np.ndarray, affine: np.ndarray) -> Path:
    path = tmp / name
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path
