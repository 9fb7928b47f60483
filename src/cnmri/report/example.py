"""An example report on the real Colin27 head with synthetic nerve enhancement.

``python -m cnmri.report.example OUT.html [--post-only]`` writes a report without running the pipeline:
the Colin27 T1 (cropped to the skull base) is the pre-contrast image, the shipped atlas centrelines are
rasterised to the label map, and a post-contrast image is made by adding enhancement along both facial
and both glossopharyngeal nerves (plus mild physiologic enhancement of the facial geniculate and
tympanic segments). The findings are written by hand to match. It shows what the report looks like and
is used by the tests' fixtures; it is not the demo (``cnmri demo`` runs the real pipeline).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cnmri import __version__
from cnmri.report.html import NERVES, ReportImages, render_report_html
from cnmri.volume import Volume

#: Skull-base box (world RAS mm) the example keeps of the head.
EXAMPLE_BOX_MM = ((-75.0, -80.0, -80.0), (75.0, 45.0, 0.0))
ABNORMAL_NERVES = ("CN7", "CN9")


def crop_to_box(volume: Volume, lo_mm: Sequence[float], hi_mm: Sequence[float]) -> Volume:
    """The part of ``volume`` inside a world-aligned box (no resampling; the affine is shifted)."""
    corners = np.array(
        [[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
    )
    ijk = volume.world_to_voxel(corners)
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, np.asarray(volume.shape))
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, np.asarray(volume.shape))
    data = np.asarray(volume.data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], dtype=np.float32)
    affine = volume.affine.copy()
    affine[:3, 3] = volume.voxel_to_world(lo[None].astype(float))[0]
    return Volume(data, affine, volume.name, f"{volume.source} cropped", dict(volume.meta))


def distance_to_polyline(points_mm: NDArray[np.float64], line_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance (mm) of each of (N, 3) points to the polyline (M, 3)."""
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    line = np.asarray(line_mm, dtype=np.float64).reshape(-1, 3)
    best = np.full(len(pts), np.inf)
    if len(line) == 1:
        return np.asarray(np.linalg.norm(pts - line[0], axis=1))
    for a, b in itertools.pairwise(line):
        ab = b - a
        denom = float(ab @ ab) or 1.0
        t = np.clip((pts - a) @ ab / denom, 0.0, 1.0)
        d = np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)
        best = np.minimum(best, d)
    return best


def rasterize_tubes(grid: Volume, tubes: dict[str, tuple[NDArray[np.float64], float]]) -> tuple[Volume, dict[int, str]]:
    """Label map on ``grid``: label i+1 for voxels within ``radius`` mm of tube i's centreline.

    Later tubes overwrite earlier ones where they overlap (e.g. at a shared foramen).
    """
    labels = np.zeros(grid.shape, dtype=np.int16)
    keys: dict[int, str] = {}
    inv = np.linalg.inv(grid.affine)
    for value, (key, (line, radius)) in enumerate(tubes.items(), start=1):
        keys[value] = key
        pts = np.asarray(line, dtype=np.float64).reshape(-1, 3)
        lo_w, hi_w = pts.min(axis=0) - radius - 1, pts.max(axis=0) + radius + 1
        corners = np.array(
            [[x, y, z] for x in (lo_w[0], hi_w[0]) for y in (lo_w[1], hi_w[1]) for z in (lo_w[2], hi_w[2])]
        )
        ijk = corners @ inv[:3, :3].T + inv[:3, 3]
        lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, np.asarray(grid.shape))
        hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, np.asarray(grid.shape))
        if (hi <= lo).any():
            continue
        axes = (np.arange(a, b) for a, b in zip(lo, hi, strict=True))
        idx = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        inside = distance_to_polyline(grid.voxel_to_world(idx.astype(float)), pts) <= radius
        sel = idx[inside]
        labels[sel[:, 0], sel[:, 1], sel[:, 2]] = value
    return Volume(labels.astype(np.float32), grid.affine, "nerve segment labels", "rasterised tubes"), keys


def _segment_record(
    nerve: str,
    side: str,
    segment: str,
    physiologic: bool,
    abnormal: bool,
    rng: np.random.Generator,
    post_only: bool,
) -> dict[str, Any]:
    if abnormal:
        limit = "physiologic segment: stricter limit 1.20" if physiologic else "limit 0.60"
        enh, thick = 1.6 + 0.4 * rng.random(), 2.8 + 0.6 * rng.random()
        z, z_t, asym = 4.0 + 1.5 * rng.random(), 3.0 + rng.random(), 0.05 + 0.1 * rng.random()
        reasons = [
            f"enhancement {enh:.2f} above the normal limit ({limit})",
            f"thickness {thick:.1f} mm (z {z_t:.1f}) above the normal range",
        ]
    else:
        enh = (0.45 if physiologic else 0.1) + 0.15 * rng.random()
        thick, z, z_t = 1.6 + 0.5 * rng.random(), rng.normal(0.0, 0.8), rng.normal(0.0, 0.8)
        asym, reasons = 0.1 * rng.random(), []
    return {
        "nerve": nerve,
        "side": side,
        "segment": segment,
        "abnormal": abnormal,
        "physiologic_enhancement": physiologic,
        "enhancement": round(enh, 3),
        "enhancement_ratio": None if post_only else round(1.0 + 0.6 * enh, 3),
        "thickness_mm": round(thick, 2),
        "asymmetry": round(asym, 3),
        "z": round(float(z), 2),
        "z_thickness": round(float(z_t), 2),
        "reasons": reasons,
        "computed_from": {
            "sequences": ["post"] if post_only else ["pre", "post"],
            "roi_voxels": int(rng.integers(20, 90)),
            "reference_tissue": "pons",
            "statistic": "75th percentile",
        },
    }


def example_case(post_only: bool = False, seed: int = 7) -> tuple[dict[str, Any], ReportImages]:
    """The example findings and images (Colin27 skull base, CN7 and CN9 abnormal on both sides)."""
    from cnmri.atlas.model import load_atlas
    from cnmri.templates.lookup import load_template

    rng = np.random.default_rng(seed)
    head = crop_to_box(load_template(), *EXAMPLE_BOX_MM)
    atlas = load_atlas()
    # Abnormal nerves last, so that where rough atlas tubes overlap (CN7/CN8 in the cistern, CN9-11 at
    # the jugular foramen) the example's abnormal segments keep their voxels.
    ordered = sorted(atlas.segments, key=lambda s: s.nerve in ABNORMAL_NERVES)
    tubes = {s.key: (s.points_mm, float(np.mean(s.radius_mm))) for s in ordered}
    labels, label_keys = rasterize_tubes(head, tubes)
    centerlines = {s.key: s.points_mm for s in atlas.segments}

    pre = np.asarray(head.data, dtype=np.float32)
    reference = float(np.median(pre[pre > np.percentile(pre, 60)]))
    enhancement = np.zeros(head.shape, dtype=np.float32)
    for value, key in label_keys.items():
        nerve = key.split("-", 1)[0]
        seg = next(s for s in atlas.segments if s.key == key)
        amount = 1.8 if nerve in ABNORMAL_NERVES else (0.5 if seg.physiologic_enhancement else 0.0)
        if amount:
            enhancement[np.asarray(labels.data) == value] = amount
    enhancement = ndimage.gaussian_filter(enhancement, 0.8)
    enhancement += rng.normal(0.0, 0.03, enhancement.shape).astype(np.float32)
    post = pre + enhancement * reference

    segments = [
        _segment_record(
            s.nerve,
            s.side.value,
            s.segment,
            s.physiologic_enhancement,
            s.nerve in ABNORMAL_NERVES and s.segment in ("cisternal", "canalicular", "jugular_foramen"),
            rng,
            post_only,
        )
        for s in atlas.segments
    ]
    nerves = []
    for nerve in NERVES:
        for side in ("left", "right"):
            segs = [s for s in segments if s["nerve"] == nerve and s["side"] == side]
            abn = [s["segment"] for s in segs if s["abnormal"]]
            nerves.append(
                {
                    "nerve": nerve,
                    "side": side,
                    "abnormal": bool(abn),
                    "score": round(0.9 + 0.08 * rng.random(), 2) if abn else round(0.1 * rng.random(), 2),
                    "abnormal_segments": abn,
                }
            )
    findings: dict[str, Any] = {
        "schema_version": "1",
        "software": {"name": "cnmri", "version": __version__},
        "inputs": {"post": {"file": "/data/example/post_contrast_T1.nii.gz"}}
        | ({} if post_only else {"pre": {"file": "/data/example/pre_contrast_T1.nii.gz"}}),
        "mode": "post_only" if post_only else "pre_post",
        "segments": segments,
        "nerves": nerves,
        "pattern": {
            "kind": "multiple_nerves",
            "nerves": [f"{n}-{s}" for n in ABNORMAL_NERVES for s in ("left", "right")],
        },
        "registration": {"skull_base_ncc": 0.83, "status": "ok"},
        "warnings": [
            "Example data: Colin27 template with synthetic enhancement; the findings are written by "
            "hand and are not a measurement."
        ],
    }
    post_vol = head.with_data(post, name="post", source="example: Colin27 + synthetic enhancement")
    images = ReportImages(
        post=post_vol,
        pre=None if post_only else head.with_data(pre, name="pre"),
        enhancement=None if post_only else head.with_data(enhancement, name="enhancement"),
        labels=labels,
        label_keys=label_keys,
        centerlines_mm=centerlines,
    )
    return findings, images


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnmri.report.example", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the HTML report")
    parser.add_argument("--post-only", action="store_true", help="render the post-contrast-only variant")
    args = parser.parse_args(argv)
    findings, images = example_case(post_only=args.post_only)
    html = render_report_html(findings, images)
    tmp = args.out.with_name(args.out.name + ".part")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(args.out)
    print(f"{args.out} ({len(html.encode()) / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
