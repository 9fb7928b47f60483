"""Draw the nerve atlas on the MNIColin27 template (``python -m cnmri.atlas.figures``).

Each figure shows one template slice (axial, coronal or sagittal) with every segment's centerline
projected onto it (a maximum-intensity-style projection of the polylines along the viewing axis),
coloured by nerve. Solid lines are segments that should not enhance normally, dashed lines segments
that may (``physiologic_enhancement``). Dots mark the landmarks the segments pass through.
Output: ``docs/figures/atlas_{axial,coronal,sagittal}.png`` and ``atlas_*_posterior_fossa.png`` zooms.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cnmri.atlas.model import NERVES, Atlas, Segment, load_atlas

DEFAULT_OUT = Path("docs/figures")
PLANES: dict[str, tuple[int, int, int]] = {  # plane -> (normal axis, horizontal axis, vertical axis)
    "axial": (2, 0, 1),
    "coronal": (1, 0, 2),
    "sagittal": (0, 1, 2),
}
AXIS_NAMES = ("x (mm, + = right)", "y (mm, + = anterior)", "z (mm, + = superior)")


@dataclass(frozen=True)
class View:
    name: str
    plane: str
    slice_mm: float  # world coordinate of the background slice along the plane normal
    bounds: tuple[float, float, float, float]  # horizontal min/max, vertical min/max (mm)
    slab_mm: float = 0.0  # half-thickness of a mean-intensity slab (0 = single slice)
    sides: tuple[str, ...] = ("left", "right")


VIEWS: tuple[View, ...] = (
    View("atlas_axial", "axial", -36.0, (-60.0, 60.0, -55.0, 40.0), 2.0),
    View("atlas_coronal", "coronal", -20.0, (-60.0, 60.0, -71.0, 0.0), 2.0),
    View("atlas_sagittal", "sagittal", 20.0, (-55.0, 40.0, -71.0, 0.0), 2.0, ("right",)),
    View("atlas_axial_posterior_fossa", "axial", -41.0, (-55.0, 55.0, -45.0, 0.0), 1.0),
    View("atlas_coronal_posterior_fossa", "coronal", -22.0, (-55.0, 55.0, -70.0, -25.0), 1.0),
    View("atlas_sagittal_left", "sagittal", -20.0, (-55.0, 40.0, -71.0, 0.0), 2.0, ("left",)),
)


def nerve_colours() -> dict[str, tuple[float, float, float, float]]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {nerve: cmap(i * 2 % 20 + (i * 2 // 20)) for i, nerve in enumerate(NERVES)}


def load_template() -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """The template voxels and affine (RAS+ reoriented, no resampling)."""
    from cnmri.templates.lookup import load_template as find_and_load

    volume = find_and_load().as_closest_canonical()
    return np.asarray(volume.data, dtype=np.float32), volume.affine


def background(
    data: NDArray[np.float32], affine: NDArray[np.float64], view: View
) -> tuple[NDArray[np.float32], list[float]]:
    """A (vertical, horizontal) image of the slice or slab and its extent in mm for imshow."""
    normal, h_axis, v_axis = PLANES[view.plane]
    origin = affine[:3, 3]
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    centre = round((view.slice_mm - origin[normal]) / zooms[normal])
    half = max(0, round(view.slab_mm / zooms[normal]))
    lo, hi = max(0, centre - half), min(data.shape[normal], centre + half + 1)
    slab = np.take(data, np.arange(lo, hi), axis=normal).mean(axis=normal)
    # remaining axes keep their order; put vertical first for imshow(origin="lower")
    remaining = [a for a in range(3) if a != normal]
    image = slab if remaining == [v_axis, h_axis] else slab.T
    extent = [
        origin[h_axis] - zooms[h_axis] / 2,
        origin[h_axis] + (data.shape[h_axis] - 0.5) * zooms[h_axis],
        origin[v_axis] - zooms[v_axis] / 2,
        origin[v_axis] + (data.shape[v_axis] - 0.5) * zooms[v_axis],
    ]
    return image.astype(np.float32), extent


def draw_view(atlas: Atlas, data: NDArray[np.float32], affine: NDArray[np.float64], view: View, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    _, h_axis, v_axis = PLANES[view.plane]
    image, extent = background(data, affine, view)
    h0, h1, v0, v1 = view.bounds
    width = 9.0
    fig, ax = plt.subplots(figsize=(width, width * (v1 - v0) / (h1 - h0) + 0.6))
    vmax = float(np.percentile(data, 99.5))
    ax.imshow(
        image,
        origin="lower",
        cmap="gray",
        extent=(extent[0], extent[1], extent[2], extent[3]),
        vmin=0,
        vmax=vmax,
        interpolation="nearest",
    )
    colours = nerve_colours()
    segments: list[Segment] = [s for s in atlas.segments if s.side.value in view.sides]
    for seg in segments:
        pts = seg.points_mm
        style = "--" if seg.physiologic_enhancement else "-"
        ax.plot(pts[:, h_axis], pts[:, v_axis], style, color=colours[seg.nerve], lw=1.6, alpha=0.95)
        ax.plot(pts[[0, -1], h_axis], pts[[0, -1], v_axis], "o", color=colours[seg.nerve], ms=2.5)
    ax.set_xlim(h0, h1)
    ax.set_ylim(v0, v1)
    ax.set_xlabel(AXIS_NAMES[h_axis])
    ax.set_ylabel(AXIS_NAMES[v_axis])
    label = {"axial": "z", "coronal": "y", "sagittal": "x"}[view.plane]
    slab = f" ± {view.slab_mm:g} mm slab" if view.slab_mm else ""
    ax.set_title(
        f"cnmri nerve atlas v{atlas.version} on {atlas.space}: {view.plane}, background {label} = "
        f"{view.slice_mm:g} mm{slab}; centerlines projected ({', '.join(view.sides)})",
        fontsize=9,
    )
    present = [n for n in NERVES if any(s.nerve == n for s in segments)]
    handles = [Line2D([0], [0], color=colours[n], lw=2, label=n) for n in present]
    handles += [
        Line2D([0], [0], color="w", lw=1.5, ls="-", label="no physiologic enhancement"),
        Line2D([0], [0], color="w", lw=1.5, ls="--", label="may enhance normally"),
    ]
    legend = ax.legend(
        handles=handles, loc="upper right", fontsize=7, ncol=2, framealpha=0.6, facecolor="black", labelcolor="white"
    )
    legend.get_frame().set_edgecolor("white")
    if view.plane != "sagittal":
        ax.text(
            0.01, 0.01, "subject's right is on the right (x > 0)", transform=ax.transAxes, color="yellow", fontsize=7
        )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnmri.atlas.figures", description="Draw atlas figures")
    parser.add_argument("-o", "--output-dir", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--atlas", type=Path, default=None, help="atlas JSON (default: the shipped one)")
    args = parser.parse_args(argv)
    atlas = load_atlas(args.atlas)
    data, affine = load_template()
    for view in VIEWS:
        path = draw_view(atlas, data, affine, view, args.output_dir / f"{view.name}.png")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
