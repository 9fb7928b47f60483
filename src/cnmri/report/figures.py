"""Key images and the overview mosaic for the HTML report.

Every picture is resampled from the subject images on a display grid defined in world RAS millimetres,
so the figures do not depend on how the arrays are stored. Display follows the radiological
convention: in axial and coronal views the patient's right is on the image left (and the patient's
left on the image right); axial views have anterior at the top; coronal and sagittal views have
superior at the top; sagittal views have anterior on the left.

Segment outlines and colour overlays are burnt into RGB arrays (``compose_*``) before matplotlib adds
titles, orientation letters and the scale bar, so tests can check the exact outline pixels against
the projected centreline.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.volume import Volume, world_to_voxel

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")
RGB = NDArray[np.float64]  # (H, W, 3) in [0, 1]

#: Unit vectors (world RAS) of image columns (left → right) and rows (top → bottom) for each plane.
_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "coronal": ((-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0)),
}
#: Orientation letters at the (left, right, top, bottom) edges of each plane.
ORIENTATION_LETTERS: dict[str, tuple[str, str, str, str]] = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}
CONVENTION_NOTE = (
    "Radiological convention: patient's right on image left, patient's left on image right "
    "(axial, coronal); sagittal viewed from the patient's left, anterior on the left."
)

#: One hue per nerve; segments of the same nerve are shades of it (see :func:`segment_colours`).
NERVE_COLOURS: dict[str, str] = {
    "CN2": "#e6194b",
    "CN3": "#3cb44b",
    "CN4": "#ffe119",
    "CN5": "#4363d8",
    "CN6": "#f58231",
    "CN7": "#f032e6",
    "CN8": "#42d4f4",
    "CN9": "#bfef45",
    "CN10": "#fabed4",
    "CN11": "#469990",
    "CN12": "#dcbeff",
}
OUTLINE_COLOUR = (1.0, 0.92, 0.0)  # the segment in focus (yellow)
CONTEXT_COLOUR = (0.35, 0.75, 1.0)  # the other segments of the same nerve (light blue)
ENHANCEMENT_CMAP = "inferno"
DPI = 100
HEADROOM = 1.3  # top of the grey window, as a multiple of the pre-contrast image's bright end


def split_key(key: str) -> tuple[str, str, str]:
    """``"CN7-left-canalicular"`` → ``("CN7", "left", "canalicular")``."""
    parts = key.split("-", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class PlaneGrid:
    """A square-pixel display grid on one anatomical plane through ``center_mm``.

    Pixel (row, col) sits at ``center + (col - (width-1)/2) * pixel_mm * u + (row - (height-1)/2) *
    pixel_mm * v`` in world RAS mm, with ``u``/``v`` from the plane's display convention.
    """

    plane: Plane
    center_mm: tuple[float, float, float]
    width_mm: float
    height_mm: float
    pixel_mm: float

    @property
    def shape(self) -> tuple[int, int]:
        return (round(self.height_mm / self.pixel_mm), round(self.width_mm / self.pixel_mm))

    def _uv(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        u, v = _AXES[self.plane]
        return np.asarray(u), np.asarray(v)

    def world_points(self) -> NDArray[np.float64]:
        """(H, W, 3) world RAS mm of every pixel centre."""
        h, w = self.shape
        u, v = self._uv()
        cols = (np.arange(w) - (w - 1) / 2.0) * self.pixel_mm
        rows = (np.arange(h) - (h - 1) / 2.0) * self.pixel_mm
        c = np.asarray(self.center_mm, dtype=np.float64)
        return c + cols[None, :, None] * u + rows[:, None, None] * v

    def project(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, 3) world mm → (N, 3) of (row, col, distance from the plane in mm)."""
        h, w = self.shape
        u, v = self._uv()
        d = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3) - np.asarray(self.center_mm)
        normal = np.cross(u, v)
        col = d @ u / self.pixel_mm + (w - 1) / 2.0
        row = d @ v / self.pixel_mm + (h - 1) / 2.0
        return np.stack([row, col, np.abs(d @ normal)], axis=1)

    def describe(self) -> str:
        """Position of the plane, e.g. ``"axial z = -33 mm"``."""
        axis = {"axial": ("z", 2), "coronal": ("y", 1), "sagittal": ("x", 0)}[self.plane]
        return f"{self.plane} {axis[0]} = {self.center_mm[axis[1]]:.0f} mm"


def _crop(volume: Volume, grid: PlaneGrid) -> tuple[NDArray[np.float64], tuple[slice, slice, slice] | None]:
    """Continuous voxel indices (3, H*W) of the grid's pixels, relative to the smallest crop holding them."""
    return _crop_on(grid, np.asarray(volume.affine, dtype=np.float64).tobytes(), volume.shape)


@functools.lru_cache(maxsize=32)
def _crop_on(
    grid: PlaneGrid, affine_bytes: bytes, shape: tuple[int, int, int]
) -> tuple[NDArray[np.float64], tuple[slice, slice, slice] | None]:
    # The post, pre, enhancement and label images share one grid: each key-image plane is mapped once,
    # not once per image and mask.
    affine = np.frombuffer(affine_bytes, dtype=np.float64).reshape(4, 4)
    ijk = world_to_voxel(affine, grid.world_points()).T
    lo = np.maximum(np.floor(ijk.min(axis=1)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(ijk.max(axis=1)).astype(int) + 2, np.asarray(shape))
    box = None
    if not (hi <= lo).any():
        box = (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])), slice(int(lo[2]), int(hi[2])))
        ijk = ijk - lo[:, None]
    ijk.setflags(write=False)  # shared between callers through the cache
    return ijk, box


def sample(volume: Volume, grid: PlaneGrid, order: int = 1) -> NDArray[np.float64]:
    """Resample ``volume`` onto ``grid`` (outside the image: NaN)."""
    ijk, box = _crop(volume, grid)
    if box is None:
        return np.full(grid.shape, np.nan)
    crop = np.asarray(volume.data[box], dtype=np.float64)
    values = ndimage.map_coordinates(crop, ijk, order=order, mode="constant", cval=np.nan)
    return np.asarray(values.reshape(grid.shape))


def sample_labels(labels: Volume, grid: PlaneGrid) -> NDArray[np.int64]:
    """Nearest-neighbour label values on ``grid`` (outside the image: 0)."""
    ijk, box = _crop(labels, grid)
    if box is None:
        return np.zeros(grid.shape, dtype=np.int64)
    crop = np.asarray(labels.data[box]).astype(np.int64)
    values = ndimage.map_coordinates(crop, ijk, order=0, mode="constant", cval=0)
    return np.asarray(values.reshape(grid.shape), dtype=np.int64)


def sample_mask(labels: Volume, values: set[int] | frozenset[int], grid: PlaneGrid) -> NDArray[np.bool_]:
    """Binary mask of the given label values on ``grid``, smoothed by linear interpolation of the mask."""
    ijk, box = _crop(labels, grid)
    if not values or box is None:
        return np.zeros(grid.shape, dtype=bool)
    crop = np.isin(np.asarray(labels.data[box]), sorted(values)).astype(np.float64)
    smooth = ndimage.map_coordinates(crop, ijk, order=1, mode="constant", cval=0.0)
    return np.asarray(smooth.reshape(grid.shape) >= 0.5)


def outline(mask: NDArray[np.bool_], width: int = 1) -> NDArray[np.bool_]:
    """Pixels of ``mask`` on its border (inner contour, ``width`` pixels thick)."""
    if not mask.any():
        return np.zeros_like(mask)
    inner = ndimage.binary_erosion(mask, iterations=width, border_value=0)
    return np.asarray(mask & ~inner)


def window_limits(image: NDArray[np.float64], lo_pct: float = 1.0, hi_pct: float = 99.5) -> tuple[float, float]:
    """A robust grey window (low, high) from the finite pixels."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [lo_pct, hi_pct]))
    return (lo, hi if hi > lo else lo + 1.0)


def grey_rgb(image: NDArray[np.float64], limits: tuple[float, float] | None = None) -> RGB:
    """Grey RGB in [0, 1] with the given window (default: robust window of ``image``)."""
    lo, hi = limits or window_limits(image)
    g = np.clip((np.where(np.isfinite(image), image, lo) - lo) / (hi - lo), 0.0, 1.0)
    return np.repeat(g[:, :, None], 3, axis=2)


def burn(rgb: RGB, mask: NDArray[np.bool_], colour: tuple[float, float, float], alpha: float = 1.0) -> RGB:
    """Paint ``mask`` pixels with ``colour`` (blended with ``alpha``)."""
    out = rgb.copy()
    out[mask] = (1.0 - alpha) * out[mask] + alpha * np.asarray(colour)
    return out


def overlay_enhancement(rgb: RGB, enhancement: NDArray[np.float64], vmax: float, threshold: float) -> RGB:
    """Colour-code enhancement above ``threshold`` (normalised units) over the grey image."""
    cmap = colormaps[ENHANCEMENT_CMAP]
    e = np.nan_to_num(enhancement, nan=0.0)
    colours = np.asarray(cmap(Normalize(0.0, vmax, clip=True)(e)))[:, :, :3]
    alpha = np.where(e > threshold, 0.75, 0.0)[:, :, None]
    return np.asarray((1.0 - alpha) * rgb + alpha * colours)


@dataclass(frozen=True)
class Panel:
    """One composed view: the RGB pixels plus what was drawn where (for tests and captions)."""

    grid: PlaneGrid
    title: str
    rgb: RGB
    outline: NDArray[np.bool_]  # pixels of the outline of the segment in focus


@dataclass(frozen=True)
class KeyImageRequest:
    """What to show for one abnormal nerve: the segment in focus and the rest of the nerve."""

    title: str
    center_mm: tuple[float, float, float]
    focus_labels: frozenset[int]
    context_labels: frozenset[int]
    fov_mm: float = 60.0
    pixel_mm: float = 0.2


def compose_key_panels(
    req: KeyImageRequest,
    post: Volume,
    labels: Volume,
    enhancement: Volume | None,
    pre: Volume | None,
    enhancement_vmax: float,
) -> list[list[Panel]]:
    """Rows of panels (post with outline; enhancement overlay; pre) × columns (axial, coronal, sagittal)."""
    rows: list[list[Panel]] = [[], [], []]
    for plane in PLANES:
        grid = PlaneGrid(plane, req.center_mm, req.fov_mm, req.fov_mm, req.pixel_mm)
        focus = sample_mask(labels, req.focus_labels, grid)
        context = sample_mask(labels, req.context_labels, grid) & ~focus
        focus_line = outline(focus, width=2)
        context_line = outline(context, width=1)
        post_img = sample(post, grid)
        pre_img = sample(pre, grid) if pre is not None else None
        # Pre and post share one window from the pre-contrast image, with headroom above its bright end
        # so that enhancing tissue still shows as brighter than white matter.
        lo, hi = window_limits(pre_img if pre_img is not None else post_img)
        limits = (lo, lo + HEADROOM * (hi - lo)) if pre_img is not None else (lo, hi)
        base = grey_rgb(post_img, limits)
        post_rgb = burn(burn(base, context_line, CONTEXT_COLOUR, 0.8), focus_line, OUTLINE_COLOUR)
        rows[0].append(Panel(grid, grid.describe(), post_rgb, focus_line))
        if enhancement is not None:
            enh = sample(enhancement, grid)
            over = overlay_enhancement(base, enh, enhancement_vmax, 0.15 * enhancement_vmax)
            over = burn(over, outline(focus, width=1), (0.0, 1.0, 1.0), 0.9)
            rows[1].append(Panel(grid, grid.describe(), over, focus_line))
        if pre_img is not None:
            pre_rgb = burn(grey_rgb(pre_img, limits), outline(focus, width=1), OUTLINE_COLOUR, 0.6)
            rows[2].append(Panel(grid, grid.describe(), pre_rgb, focus_line))
    return [r for r in rows if r]


_STROKE = [patheffects.withStroke(linewidth=2.2, foreground="black")]


def _decorate(ax: Axes, panel: Panel, scale_mm: float = 10.0) -> None:
    """Orientation letters, scale bar and title on an image axis."""
    h, w = panel.grid.shape
    left, right, top, bottom = ORIENTATION_LETTERS[panel.grid.plane]
    style: dict[str, Any] = {"color": "white", "fontsize": 9, "fontweight": "bold", "path_effects": _STROKE}
    pad = 0.02
    ax.text(pad, 0.5, left, transform=ax.transAxes, ha="left", va="center", **style)
    ax.text(1 - pad, 0.5, right, transform=ax.transAxes, ha="right", va="center", **style)
    ax.text(0.5, 1 - pad, top, transform=ax.transAxes, ha="center", va="top", **style)
    ax.text(0.5, pad, bottom, transform=ax.transAxes, ha="center", va="bottom", **style)
    bar_px = scale_mm / panel.grid.pixel_mm
    x0, y0 = 0.06 * w, 0.93 * h
    ax.plot(
        [x0, x0 + bar_px],
        [y0, y0],
        color="white",
        linewidth=2.5,
        solid_capstyle="butt",
        path_effects=[patheffects.Stroke(linewidth=4, foreground="black"), patheffects.Normal()],
    )
    ax.text(
        x0 + bar_px / 2,
        y0 - 0.02 * h,
        f"{scale_mm:.0f} mm",
        color="white",
        fontsize=7,
        ha="center",
        va="bottom",
        path_effects=_STROKE,
    )
    ax.set_title(panel.title, fontsize=8, pad=3)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _png(fig: Figure, quantize: bool = False) -> bytes:
    """PNG bytes of ``fig`` (RGB; with ``quantize``, a 256-colour octree palette, about 4x smaller but with
    visible banding of grey ramps); the figure is closed.

    The canvas pixels go straight to PIL: ``savefig`` would encode a PNG only for it to be decoded and
    encoded again, which cost about a second per key-image figure. zlib level 3 gives files within 1 %
    of the default level's size in about 80 % of its time.
    """
    from PIL import Image

    fig.set_dpi(DPI)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    plt.close(fig)
    image = Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]))
    if quantize:
        image = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def key_image_png(
    req: KeyImageRequest,
    post: Volume,
    labels: Volume,
    enhancement: Volume | None,
    pre: Volume | None,
    enhancement_vmax: float,
    quantize: bool = False,
) -> bytes:
    """PNG of the key images of one nerve: three planes, one row per image kind.

    ``quantize`` trades grey-level smoothness for size (see :func:`_png`); the report uses it only when
    many nerves are abnormal.
    """
    rows = compose_key_panels(req, post, labels, enhancement, pre, enhancement_vmax)
    row_names = ["Post-contrast T1\n(segment outlined)"]
    if enhancement is not None:
        row_names.append("Enhancement\n(post − pre, normalised)")
    if pre is not None:
        row_names.append("Pre-contrast T1")
    n_rows = len(rows)
    fig = plt.figure(figsize=(10.6, 3.4 * n_rows + 0.5), facecolor="white")
    top_pad = 0.5 / (3.4 * n_rows + 0.5)
    grid = fig.add_gridspec(
        n_rows,
        4,
        width_ratios=[1, 1, 1, 0.07],
        left=0.07,
        right=0.94,
        top=1 - top_pad,
        bottom=0.01,
        wspace=0.05,
        hspace=0.12,
    )
    for r, (row, name) in enumerate(zip(rows, row_names, strict=True)):
        for c, panel in enumerate(row):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(panel.rgb, interpolation="nearest")
            _decorate(ax, panel)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
                ax.yaxis.set_visible(True)
        if enhancement is not None and r == 1:
            cax = fig.add_subplot(grid[r, 3])
            sm = plt.cm.ScalarMappable(norm=Normalize(0.0, enhancement_vmax), cmap=ENHANCEMENT_CMAP)
            bar = fig.colorbar(sm, cax=cax)
            bar.ax.tick_params(labelsize=7)
            bar.set_label("normalised units", fontsize=7)
            bar.ax.axhline(0.15 * enhancement_vmax, color="grey", linewidth=0.8)
    title = req.title.replace("$", r"\$")  # no mathtext from names
    fig.text(0.5, 1 - 0.3 * top_pad, title, ha="center", va="center", fontsize=10, fontweight="bold")
    fig.text(0.5, 1 - 0.75 * top_pad, CONVENTION_NOTE, ha="center", va="center", fontsize=7, color="#444")
    return _png(fig, quantize)


def _shade(colour: str, index: int) -> tuple[float, float, float]:
    """Shade ``index`` of a hue: alternately lighter and darker so neighbouring segments differ."""
    base = np.asarray(to_rgb(colour))
    steps = [0.0, 0.45, -0.35, 0.7, -0.55, 0.25, -0.2]
    f = steps[index % len(steps)]
    out = base + (1.0 - base) * f if f >= 0 else base * (1.0 + f)
    r, g, b = (float(x) for x in np.clip(out, 0.0, 1.0))
    return (r, g, b)


def segment_colours(keys: list[str]) -> dict[str, tuple[float, float, float]]:
    """Colour per segment key: the nerve's hue, a distinct shade per segment name (same on both sides)."""
    names: dict[str, list[str]] = {}
    for key in keys:
        nerve, _side, segment = split_key(key)
        names.setdefault(nerve, [])
        if segment not in names[nerve]:
            names[nerve].append(segment)
    out: dict[str, tuple[float, float, float]] = {}
    for key in keys:
        nerve, _side, segment = split_key(key)
        out[key] = _shade(NERVE_COLOURS.get(nerve, "#cccccc"), names[nerve].index(segment))
    return out


def mosaic_slices(labels: Volume, n: int = 12) -> tuple[list[float], float, tuple[float, float]]:
    """Axial levels (world z, mm) spanning the labelled segments, their spacing (mm), and the in-plane
    centre (x, y) of the segments."""
    ijk = np.argwhere(np.asarray(labels.data) > 0)
    if len(ijk) == 0:
        c = labels.voxel_to_world(np.asarray(labels.shape, dtype=float)[None] / 2.0)[0]
        return [float(c[2])], 1.0, (float(c[0]), float(c[1]))
    world = labels.voxel_to_world(ijk.astype(float))
    z_lo, z_hi = (float(v) for v in np.percentile(world[:, 2], [1, 99]))
    n = max(1, min(n, int(np.ceil(z_hi - z_lo)) + 1))
    spacing = (z_hi - z_lo) / (n - 1) if n > 1 else 1.0
    levels = [z_lo + i * spacing for i in range(n)]
    lo, hi = world.min(axis=0), world.max(axis=0)
    return (
        [float(z) for z in levels],
        float(spacing),
        (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)),
    )


def slab_labels(labels: Volume, grid: PlaneGrid, thickness_mm: float) -> NDArray[np.int64]:
    """Labels within ``thickness_mm`` around ``grid``'s plane, projected onto it (1 mm steps; where
    several segments overlap, the one nearest the plane wins)."""
    u, v = _AXES[grid.plane]
    normal = np.cross(np.asarray(u), np.asarray(v))
    half = max(thickness_mm / 2.0, 0.0)
    offsets = sorted(np.arange(-np.floor(half), np.floor(half) + 1.0), key=abs, reverse=True)
    out = np.zeros(grid.shape, dtype=np.int64)
    for off in offsets:  # farthest first, so nearer slices overwrite
        shifted = PlaneGrid(
            grid.plane,
            tuple(float(x) for x in np.asarray(grid.center_mm) + off * normal),  # type: ignore[arg-type]
            grid.width_mm,
            grid.height_mm,
            grid.pixel_mm,
        )
        layer = sample_labels(labels, shifted)
        out = np.where(layer > 0, layer, out)
    return out


def overview_mosaic_png(
    post: Volume,
    labels: Volume,
    label_keys: dict[int, str],
    abnormal_keys: set[str],
    n_slices: int = 12,
    columns: int = 4,
) -> bytes:
    """Axial mosaic through the labelled skull-base region with every segment in its colour.

    Each tile shows one post-contrast slice and the segments within the slab between it and its
    neighbours (so that every segment appears on at least one tile); abnormal segments get a white edge.
    """
    levels, spacing, (cx, cy) = mosaic_slices(labels, n_slices)
    colours = segment_colours(list(label_keys.values()))
    width_mm, height_mm = 130.0, 110.0
    n = len(levels)
    n_rows = int(np.ceil(n / columns))
    n_cols = min(columns, n)
    tile_in = 10.8 / columns
    fig_h = tile_in * height_mm / width_mm * 1.1 * n_rows + 0.6
    fig = plt.figure(figsize=(tile_in * n_cols, fig_h), facecolor="white")
    fig.subplots_adjust(left=0.005, right=0.995, top=1 - 0.05 / fig_h, bottom=0.45 / fig_h, wspace=0.03, hspace=0.1)
    present = {int(v) for v in np.unique(np.asarray(labels.data)) if v != 0}
    for i, z in enumerate(levels):
        grid = PlaneGrid("axial", (cx, cy, z), width_mm, height_mm, 0.5)
        rgb = grey_rgb(sample(post, grid))
        sampled = slab_labels(labels, grid, spacing)
        for value, key in sorted(label_keys.items()):
            if value not in present:
                continue
            mask = sampled == value
            if not mask.any():
                continue
            rgb = burn(rgb, mask, colours[key], 0.7)
            if key in abnormal_keys:
                rgb = burn(rgb, outline(mask, width=2), (1.0, 1.0, 1.0))
        ax = fig.add_subplot(n_rows, n_cols, i + 1)
        ax.imshow(rgb, interpolation="nearest")
        panel = Panel(grid, f"axial z = {z:.0f} mm (slab ±{spacing / 2:.1f})", rgb, np.zeros(grid.shape, bool))
        _decorate(ax, panel)
    nerves = sorted({split_key(k)[0] for k in label_keys.values()}, key=lambda s: int(s[2:]) if s[2:].isdigit() else 99)
    handles: list[Patch] = [
        Patch(facecolor=NERVE_COLOURS.get(nv, "#cccccc"), edgecolor="none", label=nv) for nv in nerves
    ]
    handles.append(Patch(facecolor="#bbbbbb", edgecolor="black", linewidth=1.5, label="abnormal (white edge)"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=7,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.0,
    )
    return _png(fig, quantize=True)


__all__ = [
    "CONVENTION_NOTE",
    "NERVE_COLOURS",
    "ORIENTATION_LETTERS",
    "PLANES",
    "KeyImageRequest",
    "Panel",
    "PlaneGrid",
    "compose_key_panels",
    "key_image_png",
    "outline",
    "overview_mosaic_png",
    "sample",
    "sample_mask",
    "segment_colours",
    "split_key",
]
