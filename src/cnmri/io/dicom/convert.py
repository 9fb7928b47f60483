"""Convert one stack of DICOM images to a NIfTI volume with its world geometry.

Two back ends:

- ``pydicom`` (default): cnmri's own assembly. Slices (or the frames of an enhanced multi-frame file) are
  placed by ImagePositionPatient along the slice normal, so file names and instance numbers never matter.
  Missing slices (gaps that are whole multiples of the slice step) are reported, and a single missing
  slice between two present ones is filled by linear interpolation; duplicate positions are reported and,
  when their pixels are identical, kept once. A stack whose slices are not stacked along the normal
  (gantry tilt, sheared acquisitions) is resampled in plane onto an orthogonal grid. Pixel data in any
  transfer syntax pydicom can decode (native, RLE, deflate, and through the pylibjpeg plugins or
  pyjpegls JPEG lossless, JPEG-LS and JPEG 2000) is read; modality rescale is applied.
- ``dcm2niix``: the PyPI build of Chris Rorden's converter, used when pydicom cannot decode the pixel data
  or the assembly fails for a reason other than the data (e.g. a vendor mosaic), and for cross-checks.

DICOM patient coordinates are LPS; the conversion to RAS happens once, in :func:`lps_to_ras`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from cnmri.errors import InputError, ProcessingError
from cnmri.io.dicom.discover import PHILIPS_SCALE_SLOPE, InstanceHeader, Stack, open_dicom

_log = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Largest run of consecutive missing slices that is filled by interpolation, and largest missing share.
MAX_FILLED_GAP = 1
MAX_MISSING_FRACTION = 0.05


def lps_to_ras(affine_lps: NDArray[np.float64]) -> NDArray[np.float64]:
    """The single LPS (DICOM) → RAS (NIfTI/cnmri) flip."""
    return LPS_TO_RAS @ affine_lps


@dataclass(frozen=True)
class ConvertedSeries:
    path: Path
    backend: str
    shape: tuple[int, int, int]
    voxel_mm: tuple[float, float, float]
    affine: NDArray[np.float64]
    seconds: float
    warnings: tuple[str, ...] = ()
    scaling: str = ""  # how stored values became real ones: philips_precise, rescale, none, dcm2niix


@dataclass
class _Slice:
    position: NDArray[np.float64]  # LPS mm
    row_dir: NDArray[np.float64]  # direction of increasing column index
    col_dir: NDArray[np.float64]  # direction of increasing row index
    spacing: tuple[float, float]  # (between rows, between columns)
    pixels: NDArray[Any]
    source: str


class _Undecodable(Exception):
    """pydicom has no decoder for this transfer syntax, or the file is a layout only dcm2niix knows."""


@dataclass
class AssembledVolume:
    data: NDArray[Any]  # (columns, rows, slices)
    affine_ras: NDArray[np.float64]
    warnings: list[str] = field(default_factory=list)
    scaling: str = "none"  # "philips_precise", "rescale" (modality LUT) or "none"


def _philips_scale_slope(ds: Dataset, item: Dataset | None) -> float | None:
    """Philips private MR scale slope (2005,100E): in the frame's private item (2005,140F) for enhanced
    files, at the top level for classic ones."""
    for container in (item, ds):
        if container is None:
            continue
        private = container.get(Tag(0x2005, 0x140F))
        candidates = [private.value[0]] if private is not None and private.value else []
        candidates.append(container)
        for where in candidates:
            element = where.get(PHILIPS_SCALE_SLOPE)
            if element is None:
                continue
            raw = element.value
            try:
                value = float(raw[0] if isinstance(raw, list | tuple) else raw)
            except (TypeError, ValueError, IndexError):
                value = float(np.frombuffer(raw, "<f4")[0]) if isinstance(raw, bytes) and len(raw) >= 4 else 0.0
            if math.isfinite(value) and value != 0.0:
                return value
    return None


def _rescale(
    ds: Dataset, pixels: NDArray[Any], item: Dataset | None = None, frame: Dataset | None = None
) -> tuple[NDArray[Any], str]:
    """Stored values → real values, and the name of the scaling used.

    Philips writes display values (RescaleSlope/Intercept) and, privately, the MR scale slope SS; the
    precise floating-point value is (stored × RS + RI) / (RS × SS), the value dcm2niix writes (its
    ``-p y`` default), so that series with different scale slopes compare. Every other file gets the
    modality rescale.
    """
    source = item if item is not None and "RescaleSlope" in item else ds
    slope = float(source.get("RescaleSlope", 1) or 1)
    intercept = float(source.get("RescaleIntercept", 0) or 0)
    if "PHILIPS" in str(ds.get("Manufacturer", "")).upper():
        scale_slope = _philips_scale_slope(ds, frame)
        if scale_slope is not None:
            precise = (pixels.astype(np.float64) * slope + intercept) / (slope * scale_slope)
            return precise.astype(np.float32), "philips_precise"
    if slope == 1.0 and intercept == 0.0:
        return pixels, "none"
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept), "rescale"


def _decode(ds: Dataset, path: Path) -> NDArray[Any]:
    try:
        return np.asarray(ds.pixel_array)
    except (NotImplementedError, RuntimeError) as err:
        message = str(err)
        if "plugin" in message or "decod" in message or "handler" in message:
            raise _Undecodable(f"{path}: {message.splitlines()[0]}") from None
        raise


def _from_item(item: Dataset, keyword: str) -> Any:
    seq = item.get(keyword)
    return seq[0] if seq else None


def _frames(ds: Dataset, path: Path, wanted: Sequence[int] | None) -> tuple[list[_Slice], set[str]]:
    """The frames ``wanted`` (0-based; all when None) of an enhanced (or legacy converted) multi-frame file."""
    pixels = _decode(ds, path)
    if pixels.ndim == 2:
        pixels = pixels[None]
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else Dataset()
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    out = []
    scalings: set[str] = set()
    for index in range(pixels.shape[0]) if wanted is None else wanted:
        frame = per_frame[index] if index < len(per_frame) else Dataset()

        def find(keyword: str, frame: Dataset = frame) -> Dataset | None:
            return _from_item(frame, keyword) or _from_item(shared, keyword)

        plane = find("PlanePositionSequence")
        orient = find("PlaneOrientationSequence")
        measures = find("PixelMeasuresSequence")
        if plane is None or orient is None or measures is None:
            raise InputError(f"{path}: frame {index + 1} has no plane position, orientation or pixel spacing")
        transform = find("PixelValueTransformationSequence")
        iop = np.array(orient.ImageOrientationPatient, dtype=float)
        values, scaling = _rescale(ds, pixels[index], transform, frame)
        scalings.add(scaling)
        out.append(
            _Slice(
                np.array(plane.ImagePositionPatient, dtype=float),
                iop[:3],
                iop[3:],
                (float(measures.PixelSpacing[0]), float(measures.PixelSpacing[1])),
                values,
                f"{path.name} frame {index + 1}",
            )
        )
    return out, scalings


def _read_dataset(path: Path) -> Dataset:
    with warnings.catch_warnings(), open_dicom(path) as handle:
        warnings.simplefilter("ignore")
        return pydicom.dcmread(handle, force=True)


def _read_slices(stack: Stack) -> tuple[list[_Slice], list[str], set[str]]:
    """Every slice of the stack; a multi-frame file is read once for all the frames the stack takes."""
    slices: list[_Slice] = []
    problems: list[str] = []
    scalings: set[str] = set()
    by_file: dict[Path, list[InstanceHeader]] = {}
    for header in stack.instances:
        by_file.setdefault(header.path, []).append(header)
    for path, headers in by_file.items():
        header = headers[0]
        try:
            ds = _read_dataset(path)
            if header.frame_index is not None or header.is_multiframe:
                wanted = None if header.frame_index is None else [h.frame_index or 0 for h in headers]
                frames, used = _frames(ds, path, wanted)
                slices.extend(frames)
                scalings |= used
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels = _decode(ds, path)
        except (_Undecodable, InputError):
            raise
        except Exception as err:
            problems.append(f"{path.name}: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
            continue
        if header.position is None or header.orientation is None or header.pixel_spacing is None:
            if len(by_file) == 1:  # one file without plane geometry (e.g. a UIH grid of slices): dcm2niix's case
                raise _Undecodable(f"{path.name}: no ImagePositionPatient/ImageOrientationPatient/PixelSpacing")
            problems.append(f"{path.name}: no ImagePositionPatient/ImageOrientationPatient/PixelSpacing")
            continue
        if pixels.ndim != 2:
            problems.append(f"{path.name}: pixel data of shape {pixels.shape}, not a grey-level slice")
            continue
        iop = np.array(header.orientation, dtype=float)
        values, scaling = _rescale(ds, pixels)
        scalings.add(scaling)
        slices.append(
            _Slice(
                np.array(header.position, dtype=float),
                iop[:3],
                iop[3:],
                header.pixel_spacing,
                values,
                path.name,
            )
        )
    return slices, problems, scalings


def _refuse_unsupported(stack: Stack, name: str) -> None:
    h = stack.first
    if h.samples_per_pixel > 1:
        raise InputError(
            f"{name} is a colour (RGB) image, e.g. a colour-coded FA map; cnmri converts grey-level MR "
            "images only. Choose another series"
        )


def _assemble_mosaic(stack: Stack, name: str) -> AssembledVolume:
    """A Siemens mosaic (one file = one volume, slices tiled in one 2-D image): unpacked by nibabel's
    MosaicWrapper from the CSA header's NumberOfImagesInMosaic and slice normal."""
    with warnings.catch_warnings():  # nibabel calls its DICOM readers experimental on import
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
        from nibabel.nicom.dicomwrappers import MosaicWrapper

    if len(stack.instances) != 1:
        raise InputError(f"{name}: a mosaic volume should be one file, found {len(stack.instances)}")
    path = stack.first.path
    ds = _read_dataset(path)
    _decode(ds, path)  # a compressed mosaic pydicom cannot decode goes to dcm2niix (auto back end)
    try:
        csa = csareader.get_csa_header(ds, "image")
        n_mosaic = csareader.get_n_mosaic(csa) if csa else None
    except csareader.CSAReadError as err:
        raise InputError(f"{name}: Siemens mosaic with an unreadable CSA header ({err})") from None
    if not n_mosaic:
        raise InputError(
            f"{name}: Siemens mosaic without NumberOfImagesInMosaic in its CSA header; it cannot be "
            "unpacked into slices. Convert it with dcm2niix"
        )
    try:
        wrapper = MosaicWrapper(ds, csa, int(n_mosaic))
        data = np.asarray(wrapper.get_data())  # (rows, columns, slices), scaled
        affine_lps = np.asarray(wrapper.affine, dtype=np.float64)  # columns: row index, column index, slice
    except Exception as err:  # nibabel raises several wrapper errors
        raise InputError(f"{name}: the mosaic could not be unpacked ({type(err).__name__}: {err})") from None
    volume = np.ascontiguousarray(np.transpose(data, (1, 0, 2)))  # → (columns, rows, slices)
    affine = affine_lps[:, [1, 0, 2, 3]]
    return AssembledVolume(volume, lps_to_ras(affine), [], "rescale")


def assemble(stack: Stack, name: str = "series") -> AssembledVolume:
    """Read the stack's pixels and place them on a voxel grid with a RAS affine.

    The array is indexed (column, row, slice): i runs along a DICOM row, j down the columns, k along the
    slice normal in increasing position. Raises :class:`InputError` when the slices cannot form one
    volume (mixed orientations, irregular spacing, too many missing slices, conflicting duplicates).
    """
    _refuse_unsupported(stack, name)
    if stack.first.is_mosaic:
        return _assemble_mosaic(stack, name)
    slices, problems, scalings = _read_slices(stack)
    messages: list[str] = []
    if problems:
        messages.append(
            f"{name}: {len(problems)} slice file(s) could not be read and count as missing: "
            + "; ".join(problems[:3])
            + (" …" if len(problems) > 3 else "")
        )
    if not slices:
        raise InputError(
            f"{name}: none of its {len(stack.instances)} image file(s) could be read"
            + (f" ({problems[0]})" if problems else "")
        )
    first = slices[0]
    shapes = {s.pixels.shape for s in slices}
    if len(shapes) > 1:
        raise InputError(f"{name}: slices of different sizes {sorted(shapes)}; it is not one volume")
    for s in slices:
        if np.abs(s.row_dir - first.row_dir).max() > 1e-3 or np.abs(s.col_dir - first.col_dir).max() > 1e-3:
            raise InputError(f"{name}: slices with different orientations ({s.source}); it is not one volume")
    row_dir = first.row_dir / np.linalg.norm(first.row_dir)
    col_dir = first.col_dir / np.linalg.norm(first.col_dir)
    normal = np.cross(row_dir, col_dir)
    slices.sort(key=lambda s: float(s.position @ normal))
    slices, duplicate_note = _drop_duplicates(slices, normal, name)
    if duplicate_note:
        messages.append(duplicate_note)
    depth = np.array([float(s.position @ normal) for s in slices])
    expected = stack.first.images_in_acquisition
    if len(slices) == 1:
        step_vec = normal * float(stack.first.spacing_between_slices or stack.first.slice_thickness or 1.0)
        grid: list[_Slice | None] = [slices[0]]
    else:
        diffs = np.diff(depth)
        step = float(np.median(diffs))
        ratios = diffs / step
        multiples = np.rint(ratios)
        if np.any(np.abs(ratios - multiples) > 0.1) or np.any(multiples < 1):
            worst = int(np.argmax(np.abs(ratios - multiples)))
            raise InputError(
                f"{name}: irregular slice spacing (step {step:.3f} mm, but {diffs[worst]:.3f} mm between "
                f"{slices[worst].source} and {slices[worst + 1].source}); it cannot be stored as one regular "
                "volume. Choose another series or re-export it from the scanner"
            )
        grid = [slices[0]]
        missing_positions: list[float] = []
        for index, m in enumerate(multiples.astype(int)):
            for gap in range(1, m):
                grid.append(None)
                missing_positions.append(depth[index] + gap * step)
            grid.append(slices[index + 1])
        if missing_positions:
            runs = _runs(grid)
            fraction = len(missing_positions) / len(grid)
            where = ", ".join(f"{p:.1f}" for p in missing_positions[:6])
            if max(runs) > MAX_FILLED_GAP or fraction > MAX_MISSING_FRACTION:
                raise InputError(
                    f"{name}: {len(missing_positions)} slice(s) missing (at {where} mm along the slice "
                    f"normal; longest gap {max(runs)} slice(s)); the series is incomplete. Re-export or "
                    "re-send it from the scanner or PACS, or choose another series"
                )
            messages.append(
                f"{name}: {len(missing_positions)} missing slice(s) at {where} mm along the "
                "slice normal were filled by linear interpolation from their neighbours; "
                "measurements on those slices are less reliable"
            )
        # the stacking vector from the first and last slice; exact also for sheared (tilted) stacks
        step_vec = (slices[-1].position - slices[0].position) / (len(grid) - 1)
    # GE counts every phase of a multi-phase stack in ImagesInAcquisition: compare with the whole series
    if (
        expected
        and expected > len(grid)
        and stack.first.frame_index is None
        and stack.first.n_frames <= 1
        and expected != stack.series_images
        and not (stack.series_images > len(grid) and expected % len(grid) == 0)
    ):
        messages.append(
            f"{name}: the headers announce {expected} images in the acquisition but "
            f"{len(grid)} slice positions were found; the first or last slices may be missing"
        )
    data = _fill(grid)  # (slices, rows, cols)
    spacing_row, spacing_col = first.spacing
    affine = np.eye(4)
    affine[:3, 0] = row_dir * spacing_col
    affine[:3, 1] = col_dir * spacing_row
    affine[:3, 2] = step_vec
    affine[:3, 3] = slices[0].position
    volume = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))  # → (cols, rows, slices)
    tilt = math.degrees(math.acos(min(1.0, abs(float(step_vec @ normal)) / float(np.linalg.norm(step_vec)))))
    if tilt > 0.1:
        volume, affine = _deshear(volume, affine, normal)
        messages.append(
            f"{name}: slices are stacked {tilt:.1f}° off their normal (gantry tilt or sheared "
            "acquisition); resampled in plane onto an orthogonal grid"
        )
    scaling = "philips_precise" if "philips_precise" in scalings else ("rescale" if "rescale" in scalings else "none")
    return AssembledVolume(volume, lps_to_ras(affine), messages, scaling)


def _runs(grid: Sequence[object | None]) -> list[int]:
    runs, current = [0], 0
    for item in grid:
        current = current + 1 if item is None else 0
        runs.append(current)
    return runs


def _drop_duplicates(slices: list[_Slice], normal: NDArray[np.float64], name: str) -> tuple[list[_Slice], str]:
    kept: list[_Slice] = []
    identical = 0
    for s in slices:
        if kept and np.linalg.norm(s.position - kept[-1].position) < 1e-3:
            if np.array_equal(s.pixels, kept[-1].pixels):
                identical += 1
                continue
            raise InputError(
                f"{name}: two different images at the same position ({kept[-1].source} and {s.source}); the "
                "series mixes two acquisitions. Choose another series, or separate them"
            )
        kept.append(s)
    note = f"{name}: {identical} duplicate slice(s) with identical pixels were kept once" if identical else ""
    return kept, note


def _fill(grid: Sequence[_Slice | None]) -> NDArray[Any]:
    present = [s for s in grid if s is not None]
    dtype = np.dtype(np.float32) if None in grid else np.result_type(*[s.pixels.dtype for s in present])
    out = np.empty((len(grid), *present[0].pixels.shape), dtype=dtype)
    for k, s in enumerate(grid):
        if s is not None:
            out[k] = s.pixels
    for k, s in enumerate(grid):
        if s is None:  # single gaps only (checked by the caller): both neighbours exist
            out[k] = 0.5 * (out[k - 1].astype(np.float32) + out[k + 1].astype(np.float32))
    return out


def _deshear(
    volume: NDArray[Any], affine: NDArray[np.float64], normal: NDArray[np.float64]
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Shift each slice in plane so that the stack sits on an orthogonal grid (gantry-tilt correction)."""
    from scipy import ndimage

    step = affine[:3, 2]
    along = float(step @ normal)
    in_plane = step - along * normal
    # in-plane offset per slice, in voxels along i and j
    di = float(in_plane @ affine[:3, 0]) / float(affine[:3, 0] @ affine[:3, 0])
    dj = float(in_plane @ affine[:3, 1]) / float(affine[:3, 1] @ affine[:3, 1])
    out = np.zeros(volume.shape, dtype=np.float32)
    for k in range(volume.shape[2]):
        out[:, :, k] = ndimage.shift(volume[:, :, k].astype(np.float32), (k * di, k * dj), order=1, cval=0.0)
    fixed = affine.copy()
    fixed[:3, 2] = along * normal
    return out, fixed


# -------------------------------------------------------------------------------------------- writing


def _write_nifti(data: NDArray[Any], affine_ras: NDArray[np.float64], out_path: Path) -> None:
    if data.dtype.kind == "f":
        data = data.astype(np.float32)
    elif data.dtype.kind in "iu" and data.dtype.itemsize > 2:
        data = data.astype(np.float32) if np.abs(data).max() > 32767 else data.astype(np.int16)
    image = nib.Nifti1Image(data, affine_ras)
    image.set_sform(affine_ras, code=1)
    image.set_qform(affine_ras, code=1)
    image.header.set_xyzt_units("mm", "sec")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial.nii.gz")
    nib.save(image, str(tmp))
    os.replace(tmp, out_path)


def _converted(
    path: Path,
    backend: str,
    affine: NDArray[np.float64],
    shape: Sequence[int],
    start: float,
    notes: Sequence[str],
    scaling: str = "",
) -> ConvertedSeries:
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    return ConvertedSeries(
        path,
        backend,
        (int(shape[0]), int(shape[1]), int(shape[2])),
        (float(zooms[0]), float(zooms[1]), float(zooms[2])),
        affine,
        time.perf_counter() - start,
        tuple(notes),
        scaling,
    )


def convert_with_pydicom(stack: Stack, out_path: Path, name: str = "series") -> ConvertedSeries:
    start = time.perf_counter()
    volume = assemble(stack, name)
    _write_nifti(volume.data, volume.affine_ras, out_path)
    return _converted(out_path, "pydicom", volume.affine_ras, volume.data.shape, start, volume.warnings, volume.scaling)


def dcm2niix_binary() -> str | None:
    try:
        import dcm2niix

        if Path(dcm2niix.bin).exists():
            return str(dcm2niix.bin)
    except ImportError:
        pass
    return shutil.which("dcm2niix")


_DCM2NIIX_WARNING = re.compile(r"^(?:Warning|WARNING|Error|ERROR)[: ].*$", re.MULTILINE)


def convert_with_dcm2niix(stack: Stack, out_path: Path, name: str = "series") -> ConvertedSeries:
    """Run dcm2niix on exactly the stack's files (linked into a private folder); never its ``-u`` check."""
    binary = dcm2niix_binary()
    if binary is None:
        raise ProcessingError(f"{name}: dcm2niix is not installed (pip install dcm2niix)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnmri-dcm2niix-") as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        dst.mkdir()
        for index, path in enumerate(dict.fromkeys(h.path for h in stack.instances)):
            link = src / f"{index:05d}.dcm"
            if path.name.lower().endswith(".gz"):  # dcm2niix reads no gzip: a decompressed private copy
                with open_dicom(path) as packed:
                    link.write_bytes(packed.read())
                continue
            try:
                link.symlink_to(path.resolve())
            except OSError:
                shutil.copy2(path, link)
        cmd = [binary, "-z", "y", "-b", "n", "-i", "n", "-m", "y", "-f", "vol", "-o", str(dst), str(src)]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ProcessingError(f"{name}: dcm2niix could not run ({err})") from None
        outputs = sorted(dst.glob("*.nii.gz"), key=lambda p: ("_Tilt_" not in p.name, -p.stat().st_size))
        log = f"{run.stdout}\n{run.stderr}"
        if not outputs:
            raise ProcessingError(
                f"{name}: dcm2niix wrote no volume (exit {run.returncode}): "
                + " | ".join(log.strip().splitlines()[-3:])
            )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(outputs[0]), out_path)
    image = nib.load(str(out_path))
    notes = [f"{name}: dcm2niix: {line.strip()}" for line in _DCM2NIIX_WARNING.findall(log)]
    if len(outputs) > 1:
        notes.append(f"{name}: dcm2niix wrote {len(outputs)} volumes; kept {outputs[0].name}")
    affine = np.asarray(image.affine, dtype=np.float64)  # type: ignore[attr-defined]
    shape = image.shape  # type: ignore[attr-defined]
    return _converted(out_path, "dcm2niix", affine, shape, start, notes, "dcm2niix (-p y: Philips precise values)")


def convert_stack(stack: Stack, out_path: Path, name: str = "series", backend: str = "auto") -> ConvertedSeries:
    """Convert a stack to ``out_path`` (.nii.gz). ``backend``: "auto" (pydicom, dcm2niix fallback),
    "pydicom" or "dcm2niix". Data problems (missing slices, mixed acquisitions) are :class:`InputError`
    from either back end; "auto" falls back only when pydicom cannot decode or assemble the pixel data."""
    if backend == "dcm2niix":
        return convert_with_dcm2niix(stack, out_path, name)
    try:
        return convert_with_pydicom(stack, out_path, name)
    except _Undecodable as err:
        if backend == "pydicom":
            raise InputError(
                f"{name}: the pydicom back end cannot convert it ({err}); for compressed pixel data install "
                "pylibjpeg-libjpeg (GPL) or python-gdcm, or use the dcm2niix back end"
            ) from None
        _log.info("%s: pydicom cannot decode (%s); converting with dcm2niix", name, err)
        result = convert_with_dcm2niix(stack, out_path, name)
        note = f"{name}: converted with dcm2niix ({err})"
        return ConvertedSeries(
            result.path,
            result.backend,
            result.shape,
            result.voxel_mm,
            result.affine,
            result.seconds,
            (note, *result.warnings),
            result.scaling,
        )


__all__ = [
    "AssembledVolume",
    "ConvertedSeries",
    "assemble",
    "convert_stack",
    "convert_with_dcm2niix",
    "convert_with_pydicom",
    "dcm2niix_binary",
    "lps_to_ras",
]
