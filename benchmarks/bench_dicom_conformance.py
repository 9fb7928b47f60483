"""Conformance of cnmri's DICOM intake against the dcm2niix validation corpus (neurolabusc/dcm_qa*).

For every repository checked out under ROOT (each with its ``In/`` DICOM files and ``Ref/`` NIfTI files
written by dcm2niix): walk and classify every series (the work of ``cnmri inspect``), convert the first
volume of every image series, and compare it with the dcm2niix reference of the same series:

- geometry: the 8 corners of the voxel grid in world mm (RAS), the largest distance between a corner and
  the nearest reference corner (0 when both grids cover the same box, whatever the axis order);
- shape: the matrix after both are reoriented to the closest canonical axes;
- intensity: Pearson correlation of the voxels after that reorientation, against the reference volume
  of the same index (or the best of a 4-D reference when the volume counts differ).

The reference is looked for among the ``Ref/*.nii`` whose JSON sidecar has the same SeriesNumber and
SeriesDescription or ProtocolName; among several of one series (echoes, magnitude/phase/field map,
``_ph``), the nearest grid, then the highest correlation, then the same echo time and image type. A
reference whose NIfTI is absent from the snapshot (files of 4 MiB or more) is reported as such.

Also measured: discovery speed on the enhanced multi-frame sets (files/s, headers only, and with the
per-frame functional groups read).

    python benchmarks/bench_dicom_conformance.py [--root /work/dcmqa] [--out benchmarks/results]

Results: ``dicom_conformance.json`` (every series) and ``dicom_conformance.md`` (a table per vendor).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from cnmri.errors import CnmriError
from cnmri.io.dicom import inventory_from_discovery
from cnmri.io.dicom.classify import classify_all, describe
from cnmri.io.dicom.convert import convert_stack
from cnmri.io.dicom.discover import ENHANCED_MR_SOP_CLASSES, SeriesInfo, discover, image_component

RESULTS = Path(__file__).resolve().parent / "results"
VENDORS = (("siemens", "Siemens"), ("ge ", "GE"), ("ge medical", "GE"), ("philips", "Philips"))
VENDORS_MORE = (("canon", "Canon"), ("toshiba", "Toshiba"), ("uih", "UIH"), ("united imaging", "UIH"))


def vendor_of(manufacturer: str) -> str:
    text = f"{manufacturer.lower()} "
    for token, name in (*VENDORS, *VENDORS_MORE):
        if token in text:
            return name
    return manufacturer.strip() or "unknown"


def load_refs(ref_dir: Path) -> list[dict[str, Any]]:
    """Every reference: its NIfTI (None when absent from the snapshot: files of 4 MiB or more) and sidecar."""
    refs = []
    for meta_path in sorted(ref_dir.rglob("*.json")):
        stem = meta_path.name[: -len(".json")]
        nii = next(
            (p for p in (meta_path.with_name(stem + ".nii"), meta_path.with_name(stem + ".nii.gz")) if p.exists()), None
        )
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = {}
        refs.append({"path": nii, "name": stem, "meta": meta})
    return refs


def corners_ras(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    idx = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    return (affine[:3, :3] @ idx.T).T + affine[:3, 3]


def corner_error_mm(a_aff: np.ndarray, a_shape: tuple[int, ...], b_aff: np.ndarray, b_shape: tuple[int, ...]) -> float:
    a, b = corners_ras(a_aff, a_shape), corners_ras(b_aff, b_shape)
    d_ab = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(axis=1).max()
    d_ba = np.sqrt(((b[:, None, :] - a[None, :, :]) ** 2).sum(-1)).min(axis=1).max()
    return float(max(d_ab, d_ba))


def _norm_text(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def candidates_for(series: SeriesInfo, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    h = series.first
    description = _norm_text(h.series_description or h.protocol_name)
    same_number = [r for r in refs if r["meta"].get("SeriesNumber") == h.series_number]

    def names(ref: dict[str, Any]) -> set[str]:
        return {_norm_text(ref["meta"].get(k, "")) for k in ("SeriesDescription", "ProtocolName")} - {""}

    # a reference of another series that happens to share the number (another folder) is not a match
    return [r for r in same_number if not description or not names(r) or description in names(r)]


def _ref_rank(ref: dict[str, Any], series: SeriesInfo, volume: int) -> tuple[int, int]:
    stack = series.stacks[volume]
    h = stack.first
    meta = ref["meta"]
    te = meta.get("EchoTime")
    same_te = te is not None and h.echo_time is not None and abs(te * 1000 - h.echo_time) < 0.05
    ref_type = tuple(str(v).upper() for v in meta.get("ImageType", []))
    ours = image_component(h.image_type)
    theirs = image_component(ref_type) or ("phase" if ref["name"].endswith("_ph") else "")
    return (int(same_te), int(ours == theirs or (ours in ("", "magnitude") and theirs in ("", "magnitude"))))


def canonical_array(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The first three axes turned to the closest canonical (RAS) orientation; other axes kept."""
    ornt = nib.orientations.io_orientation(affine)
    return nib.orientations.apply_orientation(data, ornt)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _score_reference(
    ours: Any, our_data: np.ndarray, ref: dict[str, Any], series: SeriesInfo, volume: int
) -> dict[str, Any]:
    if ref["path"] is None:
        return {
            "reference": ref["name"],
            "reference_error": "NIfTI absent from the snapshot",
            "rank": (-1e9, -1, -1, -1),
        }
    try:
        img: Any = nib.load(str(ref["path"]))
        data = np.asanyarray(img.dataobj)
    except Exception as err:  # a reference missing from the snapshot (files of 4 MiB or more)
        return {"reference": ref["path"].name, "reference_error": type(err).__name__, "rank": (-1e9, -1, -1, -1)}
    data = data.reshape((*data.shape[:3], -1)) if data.ndim >= 3 else data.reshape((*data.shape, 1, 1)[:4])
    geometry = corner_error_mm(ours.affine, ours.shape[:3], img.affine, data.shape[:3])
    ref_data = canonical_array(data, img.affine)
    n_ref = ref_data.shape[3]
    shape_match = ref_data.shape[:3] == our_data.shape
    correlation, index = None, None
    if shape_match:
        indices = [volume] if n_ref == len(series.stacks) else range(min(n_ref, 300))
        scored = [(_correlation(our_data, ref_data[..., k]), k) for k in indices]
        correlation, index = max(scored)
    # among the references of one series (echoes, magnitude/phase/field map): the same grid, then the
    # same voxel values, then the same echo time and image type
    rank = (-round(geometry, 2), correlation if correlation is not None else -1, *_ref_rank(ref, series, volume))
    return {
        "reference": ref["path"].name,
        "geometry_error_mm": round(geometry, 4),
        "shape_match": shape_match,
        "reference_shape": list(img.shape),
        "correlation": None if correlation is None else round(correlation, 6),
        "reference_volume": index,
        "rank": rank,
    }


def compare(ours_path: Path, series: SeriesInfo, volume: int, refs: list[dict[str, Any]]) -> dict[str, Any]:
    """The best-matching reference of the same series (echo time, image type, geometry, then intensity)."""
    ours: Any = nib.load(str(ours_path))
    our_data = canonical_array(np.asanyarray(ours.dataobj), ours.affine)
    scored = [_score_reference(ours, our_data, ref, series, volume) for ref in candidates_for(series, refs)]
    if not scored:
        return {"reference": None}
    best = max(scored, key=lambda r: r["rank"])
    best.pop("rank")
    return best


def run_repository(repo: Path, work: Path) -> dict[str, Any]:
    source = repo / "In" if (repo / "In").is_dir() else repo
    start = time.perf_counter()
    discovery = discover(source)
    discover_s = time.perf_counter() - start
    enhanced = sum(1 for s in discovery.series for i in s.instances if i.sop_class_uid in ENHANCED_MR_SOP_CLASSES)
    start = time.perf_counter()
    inventory = inventory_from_discovery(discovery)  # everything `cnmri inspect` computes
    inspect_s = time.perf_counter() - start
    rows = classify_all(discovery)
    refs = load_refs(repo / "Ref") if (repo / "Ref").is_dir() else []
    out: list[dict[str, Any]] = []
    for index, (series, c) in enumerate(rows):
        print(f"  series {series.number} {series.description}", flush=True)
        record: dict[str, Any] = {
            "series": series.number,
            "description": series.description,
            "vendor": vendor_of(series.first.manufacturer),
            "classification": c.label,
            "confidence": c.confidence,
            "image": series.is_image,
            "volumes": len(series.stacks) if series.is_image else 0,
            "volume_labels": [s.label for s in series.stacks[:4]] if series.is_image else [],
        }
        out.append(record)
        if not series.is_image:
            record["status"] = "not an image (listed only)"
            continue
        target = work / f"{index:04d}.nii.gz"
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                converted = convert_stack(series.stacks[0], target, name=describe(series))
        except CnmriError as err:
            record["status"] = "refused"
            record["reason"] = str(err)[:300]
            continue
        except Exception as err:  # a traceback the user would see: counted as a failure
            record["status"] = "failed"
            record["reason"] = f"{type(err).__name__}: {err}"[:300]
            record["traceback"] = traceback.format_exc(limit=3)[-600:]
            continue
        record["status"] = "converted"
        record["backend"] = converted.backend
        record["scaling"] = converted.scaling
        record["shape"] = list(converted.shape)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        try:
            record.update(compare(target, series, 0, refs))
        except Exception as err:  # the comparison itself must not stop the benchmark
            record["compare_error"] = f"{type(err).__name__}: {err}"[:200]
        target.unlink(missing_ok=True)
    return {
        "repository": repo.name,
        "files": discovery.n_files,
        "enhanced_files": enhanced,
        "unreadable": len(discovery.unreadable),
        "non_dicom": len(discovery.non_dicom),
        "studies": len(inventory.studies),
        "discover_seconds": round(discover_s, 3),
        "inspect_seconds": round(inspect_s, 3),
        "series": out,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def summarise(repos: list[dict[str, Any]]) -> dict[str, Any]:
    by_vendor: dict[str, list[dict[str, Any]]] = {}
    for repo in repos:
        for s in repo["series"]:
            by_vendor.setdefault(s["vendor"], []).append({**s, "repository": repo["repository"]})
    summary = {}
    for vendor, rows in sorted(by_vendor.items()):
        images = [r for r in rows if r["image"]]
        converted = [r for r in images if r.get("status") == "converted"]
        compared = [r for r in converted if r.get("geometry_error_mm") is not None]
        correlated = [r for r in compared if r.get("correlation") is not None and r.get("shape_match")]
        geo = [r["geometry_error_mm"] for r in compared]
        cor = [r["correlation"] for r in correlated]
        summary[vendor] = {
            "series": len(rows),
            "image_series": len(images),
            "classified": sum(1 for r in rows if r["classification"]),
            "classified_other": sum(1 for r in images if r["classification"] == "other"),
            "converted": len(converted),
            "refused": sum(1 for r in images if r.get("status") == "refused"),
            "failed": sum(1 for r in images if r.get("status") == "failed"),
            "with_reference": len(compared),
            "reference_absent": sum(1 for r in converted if r.get("reference_error")),
            "no_reference": sum(1 for r in converted if not r.get("reference")),
            "geometry_error_mm_max": max(geo) if geo else None,
            "geometry_error_mm_median": statistics.median(geo) if geo else None,
            "geometry_within_0.01mm": sum(1 for g in geo if g <= 0.01),
            "shape_match": sum(1 for r in compared if r.get("shape_match")),
            "correlation_min": min(cor) if cor else None,
            "correlation_median": statistics.median(cor) if cor else None,
            "correlation_above_0.999": sum(1 for c in cor if c >= 0.999),
        }
    return summary


ENHANCED_FOLDERS = (
    "dcm_qa_xa30/In",
    "dcm_qa_xa60/In",
    "dcm_qa_enh/In",
    "dcm_qa_philips_enh/In/enh",
    "dcm_qa_philips_asl_enh/In",
    "dcm_qa_canon_61/In/enh",
)


def discovery_speed(root: Path, folders: tuple[str, ...] = ENHANCED_FOLDERS) -> dict[str, Any]:
    """Folders of enhanced multi-frame files: files/s for the walk (headers up to the functional
    groups) and for the walk plus every per-frame group (the volumes `cnmri inspect` lists). Wall time
    and this process's CPU time: the machine is shared, and CPU time is what 2 free cores would give."""
    files = enhanced = 0
    walk_wall = walk_cpu = frames_wall = frames_cpu = 0.0
    used = []
    for name in folders:
        folder = root / name
        if not folder.is_dir():
            continue
        used.append(name)
        wall, cpu = time.perf_counter(), time.process_time()
        discovery = discover(folder)
        walk_wall += time.perf_counter() - wall
        walk_cpu += time.process_time() - cpu
        files += discovery.n_files
        enhanced += sum(1 for s in discovery.series for i in s.instances if i.sop_class_uid in ENHANCED_MR_SOP_CLASSES)
        wall, cpu = time.perf_counter(), time.process_time()
        for series in discovery.series:
            if series.is_image:
                _ = series.stacks
        frames_wall += time.perf_counter() - wall
        frames_cpu += time.process_time() - cpu

    def rate(seconds: float) -> float | None:
        return round(files / seconds, 1) if seconds else None

    return {
        "folders": used,
        "files": files,
        "enhanced_files": enhanced,
        "walk_seconds_wall": round(walk_wall, 3),
        "walk_seconds_cpu": round(walk_cpu, 3),
        "files_per_second_walk_wall": rate(walk_wall),
        "files_per_second_walk_cpu": rate(walk_cpu),
        "files_per_second_with_frames_wall": rate(walk_wall + frames_wall),
        "files_per_second_with_frames_cpu": rate(walk_cpu + frames_cpu),
        "target_files_per_second": 100,
    }


def write_markdown(result: dict[str, Any], path: Path) -> None:
    lines = [
        "# DICOM conformance against the dcm2niix validation corpus",
        "",
        f"Run {result['date']} on {result['machine']}; {result['files']} files in "
        f"{len(result['repositories'])} repositories ({', '.join(r['repository'] for r in result['repositories'])}).",
        "First volume of every image series converted by cnmri and compared with dcm2niix's `Ref/` NIfTI: "
        "geometry = largest distance between grid corners (mm), correlation of voxel values after "
        "reorientation to the closest canonical axes.",
        "",
        "| vendor | series | image series | converted | refused | failed | compared | reference absent / none "
        "| geometry max mm "
        "| ≤ 0.01 mm | shape match | correlation min | median | ≥ 0.999 | classified 'other' |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for vendor, s in result["summary"].items():
        lines.append(
            f"| {vendor} | {s['series']} | {s['image_series']} | {s['converted']} | {s['refused']} | {s['failed']} "
            f"| {s['with_reference']} | {s['reference_absent']} / {s['no_reference']} "
            f"| {_fmt(s['geometry_error_mm_max'], 4)} | {s['geometry_within_0.01mm']} "
            f"| {s['shape_match']} | {_fmt(s['correlation_min'], 4)} | {_fmt(s['correlation_median'], 4)} "
            f"| {s['correlation_above_0.999']} | {s['classified_other']} |"
        )
    speed = result["enhanced_discovery"]
    lines += [
        "",
        f"Enhanced-DICOM discovery ({', '.join(speed['folders'])}; {speed['files']} files, "
        f"{speed['enhanced_files']} enhanced): walk {speed['files_per_second_walk_cpu']} files per CPU-second "
        f"({speed['files_per_second_walk_wall']} files/s wall on the shared machine), target ≥ "
        f"{speed['target_files_per_second']}; with every per-frame functional group read "
        f"{speed['files_per_second_with_frames_cpu']} files per CPU-second "
        f"({speed['files_per_second_with_frames_wall']} wall).",
        "",
    ]
    for vendor in result["summary"]:
        lines += [
            f"## {vendor}",
            "",
            "| repository | series | description | classification | volumes | status | geometry mm | correlation "
            "| note |",
            "| --- | ---: | --- | --- | ---: | --- | ---: | ---: | --- |",
        ]
        for repo in result["repositories"]:
            for s in repo["series"]:
                if s["vendor"] != vendor:
                    continue
                note = (
                    s.get("reason")
                    or s.get("reference_error")
                    or s.get("compare_error")
                    or ("no reference" if s.get("status") == "converted" and not s.get("reference") else "")
                )
                if s.get("geometry_error_mm") is not None and not s.get("shape_match"):
                    note = (note + "; " if note else "") + f"shape {s.get('shape')} vs {s.get('reference_shape')}"
                lines.append(
                    f"| {repo['repository']} | {s['series']} | {str(s['description'])[:40]} | {s['classification']} "
                    f"| {s['volumes']} | {s.get('status', '')} | {_fmt(s.get('geometry_error_mm'), 4)} "
                    f"| {_fmt(s.get('correlation'), 4)} | {note[:160].replace('|', '/')} |"
                )
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("CNMRI_DCM_QA", "/work/dcmqa")))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", default=None, help="repository names to run")
    parser.add_argument(
        "--speed-only", action="store_true", help="re-measure the enhanced discovery speed into the existing results"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.speed_only:
        result = json.loads((args.out / "dicom_conformance.json").read_text())
        result["enhanced_discovery"] = discovery_speed(args.root)
        result["enhanced_discovery"]["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        (args.out / "dicom_conformance.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        write_markdown(result, args.out / "dicom_conformance.md")
        print(json.dumps(result["enhanced_discovery"]))
        return 0
    repos = sorted(p for p in args.root.iterdir() if p.is_dir() and p.name.startswith("dcm_qa"))
    if args.only:
        repos = [p for p in repos if p.name in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="cnmri-conformance-") as tmp:
        for repo in repos:
            print(f"{repo.name} ...", flush=True)
            results.append(run_repository(repo, Path(tmp)))
    speed = discovery_speed(args.root)
    result = {
        "benchmark": "dicom_conformance",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}",
        "files": sum(r["files"] for r in results),
        "repositories": results,
        "summary": summarise(results),
        "enhanced_discovery": speed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dicom_conformance.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_markdown(result, args.out / "dicom_conformance.md")
    for vendor, s in result["summary"].items():
        print(vendor, json.dumps(s))
    print(json.dumps(speed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
