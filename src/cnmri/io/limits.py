"""Size limits checked before anything large is allocated (hostile or broken input; docs/safety.md).

A header costs a few bytes to forge: an 87-byte .nii.gz can claim 1000³ voxels, a 1 MB gzip or deflated
DICOM can inflate to gigabytes. Every reader compares what a file *claims* with these limits before it
allocates, and streams compressed data against a byte budget before handing it to a library.

The voxel limit is per image and can be raised for one run (``cnmri analyze --max-voxels N``) through
:func:`voxel_limit`; readers ask :func:`max_voxels`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO

from cnmri.errors import InputError

#: 600³ voxels: a 0.3 mm isotropic image of a 180 mm cube, larger than any clinical 3D T1.
DEFAULT_MAX_VOXELS = 600**3
#: Bytes one image may occupy uncompressed: the voxel limit at 8 bytes a voxel (float64), so any
#: ordinary data type of an image within the voxel limit fits.
BYTES_PER_VOXEL_BUDGET = 8
#: Clinical case files (YAML/JSON) larger than this are refused: a real case is a few kilobytes.
MAX_CLINICAL_FILE_BYTES = 1_000_000
#: Longest echo of a user value in an error message.
MAX_ECHO_CHARS = 80

_max_voxels: ContextVar[int] = ContextVar("cnmri_max_voxels", default=DEFAULT_MAX_VOXELS)
_CHUNK = 1 << 20


def max_voxels() -> int:
    """The voxel limit in force (default :data:`DEFAULT_MAX_VOXELS`)."""
    return _max_voxels.get()


def max_image_bytes() -> int:
    """The uncompressed byte limit of one image, derived from the voxel limit."""
    return max_voxels() * BYTES_PER_VOXEL_BUDGET


@contextmanager
def voxel_limit(voxels: int | None) -> Iterator[None]:
    """Raise (or lower) the voxel limit for the duration of a run; ``None`` keeps the default."""
    if voxels is None:
        yield
        return
    if voxels < 1:
        raise InputError(f"--max-voxels must be a positive number, got {voxels}")
    token = _max_voxels.set(int(voxels))
    try:
        yield
    finally:
        _max_voxels.reset(token)


def check_image_size(what: str, voxels: int, bytes_needed: int) -> None:
    """Refuse an image whose header claims more voxels or bytes than the limits allow."""
    limit = max_voxels()
    if voxels > limit:
        raise InputError(
            f"{what} claims {voxels:,} voxels, more than the limit of {limit:,}; if the image is real, "
            "raise the limit with --max-voxels"
        )
    if bytes_needed > max_image_bytes():
        raise InputError(
            f"{what} claims {bytes_needed:,} bytes of pixel data, more than the limit of {max_image_bytes():,}; "
            "if the image is real, raise the limit with --max-voxels"
        )


def inflated_size_within(stream: BinaryIO, budget: int, wbits: int) -> int | None:
    """Stream-decompress ``stream`` (zlib ``wbits``) counting bytes; None as soon as ``budget`` is passed.

    Memory stays at one chunk whatever the file claims; a gzip bomb is stopped after ``budget`` bytes.
    """
    inflater = zlib.decompressobj(wbits)
    total = 0
    pending = b""
    while True:
        if not pending:
            pending = stream.read(_CHUNK)
            if not pending:
                return total
        if inflater.eof:
            if not pending.strip(b"\0"):
                pending = b""  # zero padding after the last member, which gzip readers ignore
                continue
            inflater = zlib.decompressobj(wbits)  # another member of a concatenated .gz file
        total += len(inflater.decompress(pending, _CHUNK))
        if total > budget:
            return None
        pending = inflater.unused_data if inflater.eof else inflater.unconsumed_tail


def check_gzip_size(path: Path, budget: int, what: str) -> None:
    """Refuse a gzip file that inflates to more than ``budget`` bytes (read in 1 MB chunks)."""
    try:
        with open(path, "rb") as handle:
            size = inflated_size_within(handle, budget, wbits=16 + zlib.MAX_WBITS)
    except zlib.error as err:
        raise InputError(f"{what} is not a valid gzip file ({err})") from None
    if size is None:
        raise InputError(
            f"{what} inflates to more than {budget:,} bytes, more than its header describes or the limit "
            "allows (a damaged file or a compression bomb); re-export it"
        )


def shorten(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit:,} more characters)"


__all__ = [
    "DEFAULT_MAX_VOXELS",
    "MAX_CLINICAL_FILE_BYTES",
    "check_gzip_size",
    "check_image_size",
    "inflated_size_within",
    "max_image_bytes",
    "max_voxels",
    "shorten",
    "voxel_limit",
]
