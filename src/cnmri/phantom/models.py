"""Independently parameterised models of normal enhancement and vessels, selectable by name.

A detector calibrated on one simulator learns that simulator. To see whether it has learned anatomy
instead, the phantom offers several models of *normal* that share nothing but the base head and the
atlas centerlines, and the validation benchmark calibrates on one and reports on the others:

``A``  the original simulator (:mod:`cnmri.phantom.physiology`): fixed structures, fixed amplitudes,
       one AICA loop per side. Unchanged, so the standard suite stays comparable.
``B``  "2D spin-echo-like": a different structure list (superior petrosal sinus, clival venous plexus,
       nasopharyngeal mucosa, V2 plexus), every amplitude drawn *independently and uniformly* over its
       physiologic range, each side on its own; vessels are jittered polylines; each neurovascular
       contact (AICA–CN7/8, SCA–CN5, PICA/vertebral–CN9–12) happens with its reported prevalence.
``C``  "3D gradient-echo-like (VIBE)": again a different list (petrosal vein of Dandy, anterior condylar
       confluence, venous blood around the jugular-foramen nerves, sphenoid-sinus mucosa, labyrinthine
       and canalicular facial enhancement, which is common on VIBE), amplitudes drawn from a
       *correlated* distribution (one case-level contrast-timing factor plus a Beta(2, 2) draw per
       structure), vessels as tortuous splines with tapering calibre, contacts more frequent.

Every range below carries its source. ``clinical.md`` refers to the project's clinical fact sheet
(shared knowledge, §2 normal enhancement); the primary papers are named next to it. Enhancement is
post − pre as a fraction of white-matter signal; sizes are radii in mm unless said otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri.atlas.model import Atlas
from cnmri.errors import InputError
from cnmri.phantom import physiology as ph
from cnmri.phantom.physiology import Kind, Structure

FloatArray = NDArray[np.float64]

PHYSIOLOGY_MODELS: tuple[str, ...] = ("A", "B", "C")


@dataclass(frozen=True)
class Param:
    """Range of one structure in one model: enhancement (× WM), size, and how often it is visible."""

    enhancement: tuple[float, float]
    source: str
    #: probability (per side) that the structure enhances visibly in a normal person
    prevalence: float = 1.0
    #: radius range in mm (tubes, sleeves' outer wall, vessels); ellipsoids: scale factor range
    size: tuple[float, float] | None = None


# ---- sources (cited by short key in the table) ----------------------------------------------------------
SRC_VENOUS = (
    "venous blood on a delayed post-contrast T1 enhances like the dural sinuses; cavernous sinus and "
    "jugular bulb are venous compartments (clinical.md §2; Saremi, AJR 2005;185:1487; issue 9: 0.6–1.2 × WM)"
)
SRC_WILLIAMS = (
    "Meckel's cave dura and plexus around V2 (91 %) and V3 (97 %): Williams, AJNR 2003;24:1317 (clinical.md §2.2)"
)
SRC_DORELLO = "Dorello's canal / petroclival venous plexus enhances around CN6 (clinical.md §2.2)"
SRC_HYPOGLOSSAL = "hypoglossal canal venous plexus enhances in 100 % of normals: AJNR, PMC8337779 (clinical.md §2.2)"
SRC_LINN = "jugular foramen: nerves are non-enhancing defects in enhancing venous blood: Linn, AJNR 2009;30:34"
SRC_FACIAL_2D = (
    "facial nerve, 1.5 T 2D/SPGR: geniculate ≥ 1 segment 76 %, tympanic/mastoid common, mild; canalicular "
    "0 %: Gebarski, Radiology 1992;183:391; Hong, BJR 2010;83:118 (clinical.md §2.1)"
)
SRC_FACIAL_VIBE = (
    "facial nerve on fat-saturated 3D VIBE: canalicular 80/60 %, labyrinthine 92/84 %, tympanic and mastoid "
    "~100 % (1.5/3 T): Nawaz, AJNR 2025;46:1268; geniculate 97 %, tympanic 88 %, mastoid 67 %: "
    "Martin-Duverneuil, Neuroradiology 1997 (clinical.md §2.1)"
)
SRC_CHOROID = (
    "choroid plexus lacks a blood–brain barrier and enhances normally, including the tuft at the foramen of Luschka"
)
SRC_PITUITARY = "pituitary gland and infundibulum lack a blood–brain barrier and enhance normally"
SRC_MUCOSA = "nasal, nasopharyngeal and paranasal-sinus mucosa enhances normally and intensely"
SRC_ARTERY = (
    "arterial calibre: basilar and vertebral 3–4 mm, SCA 1–1.5 mm, AICA ~1 mm, PICA ~1–1.5 mm (Rhoton, "
    "Neurosurgery 2000;47(3 Suppl):S29 'The cerebellar arteries'; issue 9); intraluminal signal on post-contrast "
    "T1 depends on flow and sequence (bright on GRE, partly flow void on SE)"
)
SRC_CONTACT_AICA = (
    "AICA loop in the CPA in 47.6 % of asymptomatic sides (3D-CISS, 228 sides; Cureus 2024, PMC11214648); "
    "loops reaching the IAC 14–34 % on MRI (Chavda classification)"
)
SRC_CONTACT_SCA = (
    "SCA contact with the trigeminal root entry zone is common on the asymptomatic side as well "
    "(Maarbjerg, Brain 2015;138:311)"
)
SRC_CONTACT_PICA = (
    "PICA and the vertebral artery course around and between the rootlets of CN9–CN12 (Rhoton, "
    "Neurosurgery 2000;47(3 Suppl):S29); contact at the root entry zone is common in healthy people (issue 9)"
)
SRC_PETROSAL_VEIN = "superior petrosal vein (Dandy) drains beside the trigeminal root in the CPA; 1–2.5 mm (Rhoton)"

#: Normal nerve radius in the cistern (mm), to place vessels *touching* the nerve, not the ROI tube:
#: CN5 2.62 mm diameter 5 mm from the pons (Erbay, Radiology 2006;238:689); CN7 0.95–1.03 mm and CN8
#: 1.1 mm (Laryngoscope 2012, doi:10.1002/lary.23184); CN9–12 ~1 mm (no MRI normative data; clinical.md §2.3).
NORMAL_NERVE_RADIUS_MM: dict[str, float] = {
    "CN5": 1.3,
    "CN7": 0.5,
    "CN8": 0.55,
    "CN9": 0.5,
    "CN10": 0.6,
    "CN11": 0.5,
    "CN12": 0.5,
}

_COMMON_B: dict[str, Param] = {
    "superior_sagittal_sinus": Param((0.8, 1.3), SRC_VENOUS, size=(3.0, 4.5)),
    "straight_sinus": Param((0.8, 1.3), SRC_VENOUS, size=(2.0, 3.0)),
    "transverse_sigmoid_sinus": Param((0.8, 1.3), SRC_VENOUS, size=(3.0, 4.5)),
    "jugular_bulb": Param((0.8, 1.3), SRC_VENOUS, size=(0.75, 1.3)),
    "inferior_petrosal_sinus": Param((0.6, 1.2), SRC_VENOUS, size=(1.0, 2.0)),
    "cavernous_sinus": Param((0.6, 1.2), SRC_VENOUS, size=(0.85, 1.2)),
    "pituitary": Param((0.6, 1.3), SRC_PITUITARY, size=(0.85, 1.15)),
    "choroid_glomus": Param((0.4, 1.0), SRC_CHOROID, size=(0.8, 1.2)),
    "choroid_luschka": Param((0.3, 0.9), SRC_CHOROID, size=(1.0, 2.0)),
    "meckel_dura": Param((0.3, 0.8), SRC_WILLIAMS, size=(3.0, 3.8)),
    "v3_plexus": Param((0.4, 1.0), SRC_WILLIAMS, prevalence=0.97, size=(2.2, 3.0)),
    "dorello_plexus": Param((0.5, 1.1), SRC_DORELLO, size=(1.8, 2.6)),
    "hypoglossal_plexus": Param((0.5, 1.1), SRC_HYPOGLOSSAL, size=(2.2, 3.0)),
    "basilar_artery": Param((0.4, 1.2), SRC_ARTERY, size=(1.5, 2.0)),
    "vertebral_artery": Param((0.4, 1.2), SRC_ARTERY, size=(1.5, 2.0)),
    "superior_cerebellar_artery": Param((0.4, 1.2), SRC_ARTERY + "; " + SRC_CONTACT_SCA, 0.5, (0.5, 0.75)),
    "anterior_inferior_cerebellar_artery": Param((0.4, 1.2), SRC_ARTERY + "; " + SRC_CONTACT_AICA, 0.476, (0.45, 0.6)),
    "posterior_inferior_cerebellar_artery": Param((0.4, 1.2), SRC_ARTERY + "; " + SRC_CONTACT_PICA, 0.4, (0.5, 0.75)),
}
#: For vessels ``prevalence`` is the probability that the vessel *touches* its nerve on that side.

CATALOG: dict[str, dict[str, Param]] = {
    "B": {
        **_COMMON_B,
        "superior_petrosal_sinus": Param((0.6, 1.1), SRC_VENOUS, size=(1.0, 1.8)),
        "clival_venous_plexus": Param((0.5, 1.0), SRC_VENOUS + "; " + SRC_DORELLO, size=(1.5, 2.5)),
        "v2_plexus": Param((0.4, 1.0), SRC_WILLIAMS, prevalence=0.91, size=(2.0, 2.8)),
        "facial_geniculate": Param((0.1, 0.5), SRC_FACIAL_2D, prevalence=0.76, size=(1.0, 1.4)),
        "facial_tympanic": Param((0.1, 0.4), SRC_FACIAL_2D, prevalence=0.5, size=(0.8, 1.1)),
        "facial_mastoid": Param((0.1, 0.5), SRC_FACIAL_2D, prevalence=0.8, size=(0.8, 1.1)),
        "nasopharyngeal_mucosa": Param((0.5, 1.2), SRC_MUCOSA, size=(7.0, 9.0)),
    },
    "C": {
        "superior_sagittal_sinus": Param((0.9, 1.5), SRC_VENOUS, size=(3.0, 4.5)),
        "transverse_sigmoid_sinus": Param((0.9, 1.5), SRC_VENOUS, size=(3.0, 5.0)),
        "jugular_bulb": Param((0.9, 1.5), SRC_VENOUS, size=(0.7, 1.4)),
        "jugular_foramen_venous_blood": Param((0.6, 1.2), SRC_LINN, size=(2.6, 3.4)),
        "inferior_petrosal_sinus": Param((0.6, 1.2), SRC_VENOUS, size=(1.0, 2.2)),
        "cavernous_sinus": Param((0.6, 1.2), SRC_VENOUS, size=(0.9, 1.25)),
        "petrosal_vein": Param((0.6, 1.2), SRC_PETROSAL_VEIN, size=(0.5, 1.25)),
        "anterior_condylar_confluence": Param((0.7, 1.3), SRC_VENOUS + "; " + SRC_HYPOGLOSSAL, size=(2.0, 3.0)),
        "pituitary": Param((0.8, 1.5), SRC_PITUITARY, size=(0.85, 1.2)),
        "choroid_glomus": Param((0.5, 1.2), SRC_CHOROID, size=(0.8, 1.3)),
        "choroid_luschka": Param((0.4, 1.0), SRC_CHOROID, size=(1.2, 2.4)),
        "meckel_dura": Param((0.4, 0.9), SRC_WILLIAMS, size=(3.0, 4.0)),
        "v2_plexus": Param((0.5, 1.1), SRC_WILLIAMS, prevalence=0.91, size=(2.0, 2.8)),
        "v3_plexus": Param((0.5, 1.1), SRC_WILLIAMS, prevalence=0.97, size=(2.2, 3.0)),
        "dorello_plexus": Param((0.5, 1.2), SRC_DORELLO, size=(1.8, 2.8)),
        "hypoglossal_plexus": Param((0.6, 1.2), SRC_HYPOGLOSSAL, size=(2.2, 3.2)),
        "facial_canalicular": Param((0.05, 0.25), SRC_FACIAL_VIBE, prevalence=0.7, size=(0.6, 0.9)),
        "facial_labyrinthine": Param((0.1, 0.4), SRC_FACIAL_VIBE, prevalence=0.88, size=(0.7, 1.0)),
        "facial_geniculate": Param((0.2, 0.6), SRC_FACIAL_VIBE, prevalence=0.97, size=(1.0, 1.5)),
        "facial_tympanic": Param((0.15, 0.5), SRC_FACIAL_VIBE, prevalence=0.95, size=(0.8, 1.2)),
        "facial_mastoid": Param((0.15, 0.6), SRC_FACIAL_VIBE, prevalence=0.95, size=(0.8, 1.2)),
        "sphenoid_sinus_mucosa": Param((0.6, 1.5), SRC_MUCOSA, size=(7.0, 9.0)),
        "basilar_artery": Param((0.8, 1.6), SRC_ARTERY, size=(1.5, 2.0)),
        "vertebral_artery": Param((0.8, 1.6), SRC_ARTERY, size=(1.5, 2.0)),
        "superior_cerebellar_artery": Param((0.7, 1.5), SRC_ARTERY + "; " + SRC_CONTACT_SCA, 0.65, (0.5, 0.75)),
        "anterior_inferior_cerebellar_artery": Param(
            (0.7, 1.5), SRC_ARTERY + "; " + SRC_CONTACT_AICA, 0.6, (0.45, 0.6)
        ),
        "posterior_inferior_cerebellar_artery": Param(
            (0.7, 1.5), SRC_ARTERY + "; " + SRC_CONTACT_PICA, 0.5, (0.5, 0.75)
        ),
    },
}


@dataclass(frozen=True)
class ModelDraw:
    """One case's draw of a physiology model: its structures and the neurovascular contacts made."""

    model: str
    structures: tuple[Structure, ...]
    contacts: tuple[dict[str, Any], ...] = ()
    case_factors: dict[str, float] = field(default_factory=dict)


# ---- drawing helpers --------------------------------------------------------------------------------------


class _Sampler:
    """Amplitude and size draws: independent uniform (B) or correlated Beta around a case factor (C)."""

    def __init__(self, model: str, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        # C: one contrast-timing factor per case moves every amplitude together (early vs late scan).
        self.timing = float(rng.uniform(0.0, 1.0)) if model == "C" else 0.5

    def unit(self) -> float:
        if self.model == "C":
            return float(np.clip(0.5 * self.timing + 0.5 * self.rng.beta(2.0, 2.0), 0.0, 1.0))
        return float(self.rng.uniform(0.0, 1.0))

    def within(self, bounds: tuple[float, float]) -> float:
        lo, hi = bounds
        return round(lo + (hi - lo) * self.unit(), 4)

    def size(self, param: Param) -> float:
        assert param.size is not None
        lo, hi = param.size
        return round(float(self.rng.uniform(lo, hi)), 4)

    def present(self, param: Param) -> bool:
        return bool(self.rng.random() < param.prevalence)


def _jitter(points: FloatArray, rng: np.random.Generator, sd_mm: float, keep_ends: bool = False) -> FloatArray:
    out = np.array(points, dtype=np.float64) + rng.normal(0.0, sd_mm, np.shape(points))
    if keep_ends and len(out) > 1:
        out[0], out[-1] = points[0], points[-1]
    return out


def _spline(points: FloatArray, step_mm: float = 2.0) -> FloatArray:
    """Smooth curve through ``points`` (cubic spline over chord length)."""
    from scipy.interpolate import CubicSpline

    pts = np.asarray(points, dtype=np.float64)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    keep = np.concatenate([[True], np.diff(chord) > 1e-6])
    pts, chord = pts[keep], chord[keep]
    if len(pts) < 3:
        return pts
    curve = CubicSpline(chord, pts, axis=0, bc_type="natural")
    s = np.linspace(0.0, chord[-1], max(3, int(chord[-1] / step_mm) + 1))
    out: FloatArray = curve(s)
    return out


def _tortuous(points: FloatArray, rng: np.random.Generator, amplitude_mm: float) -> FloatArray:
    """Model C vessels: a spline with a small helical wiggle (tortuosity) along its length, ends fixed."""
    curve = _spline(points)
    if len(curve) < 4 or amplitude_mm <= 0:
        return curve
    tangent = np.gradient(curve, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    helper = np.where(np.abs(tangent[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    n1 = np.cross(tangent, helper)
    n1 /= np.maximum(np.linalg.norm(n1, axis=1, keepdims=True), 1e-9)
    n2 = np.cross(tangent, n1)
    s = np.linspace(0.0, 1.0, len(curve))
    turns = float(rng.uniform(1.0, 3.0))
    phase = float(rng.uniform(0, 2 * np.pi))
    envelope = np.sin(np.pi * s)  # zero at both ends: the vessel still leaves its parent and ends in place
    angle = 2 * np.pi * turns * s + phase
    wiggle = amplitude_mm * envelope[:, None] * (np.cos(angle)[:, None] * n1 + np.sin(angle)[:, None] * n2)
    out: FloatArray = curve + wiggle
    return out


def _perpendicular(direction: FloatArray, rng: np.random.Generator, prefer: FloatArray | None = None) -> FloatArray:
    """A unit vector perpendicular to ``direction``: random, or the component of ``prefer`` if given."""
    d = direction / max(float(np.linalg.norm(direction)), 1e-9)
    v = rng.normal(size=3) if prefer is None else np.asarray(prefer, dtype=np.float64) + 0.3 * rng.normal(size=3)
    v = v - (v @ d) * d
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        v = np.cross(d, np.array([0.0, 0.0, 1.0]))
        norm = float(np.linalg.norm(v))
    out: FloatArray = v / norm
    return out


def _loop_to_nerve(
    origin: FloatArray,
    nerve_line: FloatArray,
    nerve_radius: float,
    vessel_radius: float,
    end: FloatArray,
    touch: bool,
    rng: np.random.Generator,
    prefer: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, float]:
    """Control points of an artery leaving ``origin``, looping to the nerve and ending at ``end``.

    The loop's apex lies at centre distance ``nerve_radius + vessel_radius − indentation`` from the
    nerve centerline when ``touch`` (the vessel wall meets or slightly indents the nerve), or 3–6 mm
    beyond contact otherwise. The loop arrives and leaves along the perpendicular, so only the apex is
    near the nerve. Returns (points, apex, designed centre distance)."""
    pts = np.asarray(nerve_line, dtype=np.float64)
    t = float(rng.uniform(0.3, 0.7))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    s = t * arc[-1]
    foot = np.array([np.interp(s, arc, pts[:, d]) for d in range(3)])
    k = int(np.clip(np.searchsorted(arc, s), 1, len(pts) - 1))
    direction = pts[k] - pts[k - 1]
    normal = _perpendicular(direction, rng, prefer)
    gap = -float(rng.uniform(0.0, 0.3)) if touch else float(rng.uniform(3.0, 6.0))
    distance = nerve_radius + vessel_radius + gap
    apex = foot + distance * normal
    along = direction / max(float(np.linalg.norm(direction)), 1e-9)
    # Arrive and leave steeply (mostly along the normal): the loop bends away from the nerve quickly.
    approach = apex + 4.0 * normal - 2.0 * along
    leave = apex + 4.0 * normal + 2.0 * along
    points = np.stack([origin, 0.5 * (origin + approach), approach, apex, leave, 0.5 * (leave + end), end])
    return points, apex, float(distance)


def _min_distance(line: FloatArray, points: FloatArray) -> float:
    """Smallest distance from any of ``points`` to the polyline ``line``."""
    best = np.inf
    line = np.asarray(line, dtype=np.float64)
    for a, b in itertools.pairwise(line):
        ab = b - a
        denom = float(ab @ ab)
        t = np.zeros(len(points)) if denom == 0 else np.clip((points - a) @ ab / denom, 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        best = min(best, float(d.min()))
    return best


def _densify(points: FloatArray, step_mm: float = 0.5) -> FloatArray:
    pts = np.asarray(points, dtype=np.float64)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(arc[-1] / step_mm)) + 1)
    s = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, pts[:, d]) for d in range(3)], axis=1)


# ---- model B and C ----------------------------------------------------------------------------------------


def _line(
    atlas: Atlas | None, nerve: str, names: tuple[str, ...], side: str, fallback: FloatArray
) -> tuple[FloatArray, str]:
    line, key = ph._atlas_centerline(atlas, nerve, names, side)
    if not len(line):
        return (fallback if side == "left" else ph._mirror(fallback)), ""
    return line, key


def _side_vec(side: str) -> FloatArray:
    return np.array([-1.0 if side == "left" else 1.0, 0.0, 0.0])


def _mirror_to(points: FloatArray, side: str) -> FloatArray:
    return points if side == "left" else ph._mirror(points)


def _center(xyz: tuple[float, float, float], side: str) -> FloatArray:
    v = np.asarray(xyz, dtype=np.float64)
    return v if side == "left" else v * np.array([-1.0, 1.0, 1.0])


class _Builder:
    """Accumulates the structures of one case of model B or C."""

    def __init__(self, model: str, atlas: Atlas | None, rng: np.random.Generator) -> None:
        self.model = model
        self.atlas = atlas
        self.rng = rng
        self.sampler = _Sampler(model, rng)
        self.catalog = CATALOG[model]
        self.out: list[Structure] = []
        self.contacts: list[dict[str, Any]] = []

    def has(self, cid: str) -> bool:
        return cid in self.catalog

    def tube(
        self,
        cid: str,
        name: str,
        group: str,
        points: FloatArray,
        inner: float | None = None,
        anchored: str = "",
        radius: FloatArray | float | None = None,
    ) -> None:
        param = self.catalog[cid]
        if not self.sampler.present(param):
            return
        r = self.sampler.size(param) if radius is None else radius
        kind = Kind.SLEEVE if inner is not None else Kind.TUBE
        self.out.append(
            Structure(
                name,
                group,
                kind,
                self.sampler.within(param.enhancement),
                np.asarray(points, dtype=np.float64),
                r,
                inner,
                anchored_to=anchored,
                catalog_id=cid,
            )
        )

    def ellipsoid(
        self, cid: str, name: str, group: str, center: FloatArray, semi: FloatArray, anchored: str = ""
    ) -> None:
        param = self.catalog[cid]
        if not self.sampler.present(param):
            return
        scale = self.sampler.size(param)
        # Each axis varies a little on its own as well: shapes differ between people, not only sizes.
        axes = np.asarray(semi, dtype=np.float64) * scale * self.rng.uniform(0.9, 1.1, 3)
        self.out.append(
            Structure(
                name,
                group,
                Kind.ELLIPSOID,
                self.sampler.within(param.enhancement),
                center_mm=np.asarray(center, dtype=np.float64) + self.rng.normal(0, 1.0, 3),
                semi_axes_mm=np.round(axes, 3),
                anchored_to=anchored,
                catalog_id=cid,
            )
        )

    def vessel(self, cid: str, name: str, points: FloatArray, radius: float | None = None) -> Structure:
        param = self.catalog[cid]
        r0 = self.sampler.size(param) if radius is None else radius
        if self.model == "C":
            line = _tortuous(points, self.rng, float(self.rng.uniform(0.5, 2.0)))
            # Calibre tapers distally by up to a quarter (a branch is narrower at its end).
            radius_arr: FloatArray | float = r0 * np.linspace(1.0, float(self.rng.uniform(0.75, 1.0)), len(line))
        else:
            line = np.asarray(points, dtype=np.float64)
            radius_arr = r0
        s = Structure(
            name, "vessel", Kind.TUBE, self.sampler.within(param.enhancement), line, radius_arr, catalog_id=cid
        )
        self.out.append(s)
        return s


def _venous(b: _Builder) -> None:
    jitter = 1.5
    b.tube("superior_sagittal_sinus", "superior sagittal sinus", "venous_sinus", _jitter(ph.SSS, b.rng, jitter))
    if b.has("straight_sinus"):
        b.tube("straight_sinus", "straight sinus", "venous_sinus", _jitter(ph.STRAIGHT, b.rng, 1.0))
    if b.has("clival_venous_plexus"):
        # Basilar (clival) venous plexus on the back of the clivus, linking both cavernous and inferior
        # petrosal sinuses; beside the cisternal CN6 on its way to Dorello's canal.
        clival = _jitter(ph._p((0, -6, -30), (0, -8, -36), (0, -10, -42), (0, -12, -48)), b.rng, 0.7)
        b.tube("clival_venous_plexus", "clival venous plexus", "venous_sinus", clival)
    for side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        jf, jf_key = ph._atlas_centerline(b.atlas, "CN9", ("jugular_foramen", "jugular"), side)
        bulb = _center(ph.JUGULAR_BULB_L, side)
        if len(jf):
            # Pars vascularis: posterolateral to the nerves of the pars nervosa, 3–6 mm from their axis.
            offset = float(b.rng.uniform(3.0, 6.0))
            bulb = jf.mean(axis=0) + offset * np.array([-0.7 * sign, -0.7, 0.2])
        # The right bulb is usually the larger (venous dominance); scale it up a little more often.
        bias = 1.1 if side == "right" else 1.0
        b.ellipsoid(
            "jugular_bulb", f"jugular bulb ({side})", "venous_sinus", bulb, np.array([4.5, 4.5, 4.0]) * bias, jf_key
        )
        sigmoid = _jitter(_mirror_to(ph.TRANSVERSE_SIGMOID_L, side), b.rng, 1.5)
        sigmoid[-1] = bulb
        sigmoid[-2] = 0.5 * (sigmoid[-3] + bulb)
        b.tube("transverse_sigmoid_sinus", f"transverse-sigmoid sinus ({side})", "venous_sinus", sigmoid)
        petrosal = _jitter(_mirror_to(ph.INF_PETROSAL_L, side), b.rng, 1.0)
        petrosal[-1] = bulb
        b.tube("inferior_petrosal_sinus", f"inferior petrosal sinus ({side})", "venous_sinus", petrosal)
        if b.has("superior_petrosal_sinus"):
            # Along the petrous ridge from the cavernous sinus to the transverse–sigmoid junction.
            sps = _jitter(
                _mirror_to(ph._p((-18, -8, -28), (-28, -18, -26), (-40, -32, -22), (-50, -52, -18)), side), b.rng, 1.0
            )
            b.tube("superior_petrosal_sinus", f"superior petrosal sinus ({side})", "venous_sinus", sps)
        if b.has("jugular_foramen_venous_blood") and len(jf):
            # Venous blood around the nerves in the jugular foramen (the nerves are the dark core).
            b.tube(
                "jugular_foramen_venous_blood",
                f"jugular foramen venous blood ({side})",
                "venous_sinus",
                jf,
                inner=1.0,
                anchored=jf_key,
            )
        if b.has("anterior_condylar_confluence"):
            hc, hc_key = _line(b.atlas, "CN12", ("hypoglossal_canal",), side, ph.HYPOGLOSSAL_CANAL_L)
            confluence = hc[-1] + np.array([-3.0 * sign, 2.0, -2.0])
            b.tube(
                "anterior_condylar_confluence",
                f"anterior condylar confluence ({side})",
                "venous_sinus",
                np.stack([hc[len(hc) // 2], confluence]),
                anchored=hc_key,
            )
        # Cavernous sinus: lateral to the sella, around the cavernous CN3 and V1 (they run in its wall).
        cav3, key3 = ph._atlas_centerline(b.atlas, "CN3", ("cavernous",), side)
        centre = _center(ph.CAVERNOUS_L["center"], side)
        if len(cav3):
            centre = 0.5 * (centre + cav3.mean(axis=0)) + np.array([1.5 * sign, 0.0, 0.0])
        b.ellipsoid(
            "cavernous_sinus", f"cavernous sinus ({side})", "cavernous_sinus", centre, np.array([4.5, 10.0, 5.5]), key3
        )


def _plexus(b: _Builder) -> None:
    for side in ("left", "right"):
        meckel, mk = _line(b.atlas, "CN5", ("meckel_cave", "meckel"), side, ph.MECKEL_L)
        b.tube("meckel_dura", f"Meckel's cave dura ({side})", "dura", meckel, inner=2.4, anchored=mk)
        if b.has("v2_plexus"):
            v2, k2 = _line(b.atlas, "CN5", ("V2",), side, ph.FORAMEN_OVALE_L)
            b.tube("v2_plexus", f"V2 venous plexus, foramen rotundum ({side})", "perineural_plexus", v2, 1.0, k2)
        v3, k3 = _line(b.atlas, "CN5", ("V3",), side, ph.FORAMEN_OVALE_L)
        b.tube("v3_plexus", f"V3 venous plexus, foramen ovale ({side})", "perineural_plexus", v3, 1.2, k3)
        dor, kd = _line(b.atlas, "CN6", ("dorello",), side, ph.DORELLO_L)
        b.tube("dorello_plexus", f"Dorello's canal petroclival plexus ({side})", "perineural_plexus", dor, 0.8, kd)
        hyp, kh = _line(b.atlas, "CN12", ("hypoglossal_canal",), side, ph.HYPOGLOSSAL_CANAL_L)
        b.tube("hypoglossal_plexus", f"hypoglossal canal venous plexus ({side})", "perineural_plexus", hyp, 1.0, kh)
        for cid, names, fallback, label in (
            ("facial_canalicular", ("canalicular",), None, "facial canalicular segment"),
            ("facial_labyrinthine", ("labyrinthine",), None, "facial labyrinthine segment"),
            ("facial_geniculate", ("geniculate",), ph.FACIAL_GENICULATE_L, "facial geniculate ganglion"),
            ("facial_tympanic", ("tympanic",), ph.FACIAL_TYMPANIC_L, "facial tympanic segment"),
            ("facial_mastoid", ("mastoid",), ph.FACIAL_MASTOID_L, "facial mastoid segment"),
        ):
            if not b.has(cid):
                continue
            line, key = ph._atlas_centerline(b.atlas, "CN7", names, side)
            if not len(line):
                if fallback is None:
                    continue
                line = _mirror_to(fallback, side)
            b.tube(cid, f"{label} (normal, {side})", "facial_normal", line, anchored=key)
        # Choroid plexus: atrial glomus and the fourth-ventricle tuft out of the foramen of Luschka.
        b.ellipsoid(
            "choroid_glomus",
            f"choroid plexus glomus ({side})",
            "choroid_plexus",
            _center(ph.CHOROID_GLOMUS_L["center"], side),
            np.asarray(ph.CHOROID_GLOMUS_L["semi"]),
        )
        luschka = _jitter(_mirror_to(ph.CHOROID_4V, side), b.rng, 0.8)
        if b.model == "C":
            # Reaches further into the cerebellomedullary cistern, towards the CN9–CN10 rootlets.
            luschka = np.vstack([luschka, luschka[-1] + np.array([-3.0 if side == "left" else 3.0, 3.0, -3.0])])
        b.tube("choroid_luschka", f"choroid plexus, foramen of Luschka ({side})", "choroid_plexus", luschka)


def _midline(b: _Builder) -> None:
    b.ellipsoid(
        "pituitary",
        "pituitary gland",
        "pituitary",
        np.asarray(ph.PITUITARY["center"]),
        np.asarray(ph.PITUITARY["semi"]),
    )
    if b.has("nasopharyngeal_mucosa"):
        naso = ph._p((0, 12, -54), (0, 4, -56), (0, -4, -58))
        b.tube("nasopharyngeal_mucosa", "nasopharyngeal mucosa", "mucosa", naso, inner=None)
        s = b.out[-1]
        b.out[-1] = Structure(
            s.name,
            s.group,
            Kind.SLEEVE,
            s.enhancement,
            s.points_mm,
            s.radius_mm,
            float(np.asarray(s.radius_mm).max()) - 1.5,
            catalog_id=s.catalog_id,
        )
    if b.has("sphenoid_sinus_mucosa"):
        sph = ph._p((0, 22, -30), (0, 14, -33), (0, 8, -36))
        b.tube("sphenoid_sinus_mucosa", "sphenoid sinus mucosa", "mucosa", sph)
        s = b.out[-1]
        b.out[-1] = Structure(
            s.name,
            s.group,
            Kind.SLEEVE,
            s.enhancement,
            s.points_mm,
            s.radius_mm,
            float(np.asarray(s.radius_mm).max()) - 1.2,
            catalog_id=s.catalog_id,
        )


def _arteries(b: _Builder) -> None:
    basilar = _jitter(ph.BASILAR, b.rng, 0.8)
    b.vessel("basilar_artery", "basilar artery", basilar)
    # One vertebral artery is usually dominant (larger); draw both, then enlarge one.
    dominant = "left" if b.rng.random() < 0.5 else "right"
    for side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        vert_pts = _jitter(_mirror_to(ph.VERTEBRAL_L, side), b.rng, 1.0)
        vert_pts[0] = basilar[-2]
        param_v = b.catalog["vertebral_artery"]
        rv = b.sampler.size(param_v) * (1.0 if side == dominant else float(b.rng.uniform(0.7, 1.0)))
        b.vessel("vertebral_artery", f"vertebral artery ({side})", vert_pts, rv)
        # SCA → trigeminal root entry zone (CN5 cisternal).
        _contact_vessel(
            b,
            "superior_cerebellar_artery",
            f"superior cerebellar artery ({side})",
            "CN5",
            side,
            origin=basilar[0] + np.array([-3.0 * sign, 0, 0]),
            end=_center((-22, -36, -15), side),
            prefer=np.array([0.0, 0.0, 1.0]),
        )
        # AICA → the CN7/CN8 complex in the CPA.
        nerve = "CN7" if b.rng.random() < 0.5 else "CN8"
        _contact_vessel(
            b,
            "anterior_inferior_cerebellar_artery",
            f"anterior inferior cerebellar artery ({side})",
            nerve,
            side,
            origin=basilar[2] + np.array([-2.0 * sign, 0, 0]),
            end=_center((-16, -38, -32), side),
            prefer=np.array([0.0, -0.3, -1.0]),
        )
        # PICA (from the vertebral) → one of the lower cranial nerve rootlets.
        lower = str(b.rng.choice(["CN9", "CN10", "CN11", "CN12"]))
        _contact_vessel(
            b,
            "posterior_inferior_cerebellar_artery",
            f"posterior inferior cerebellar artery ({side})",
            lower,
            side,
            origin=vert_pts[1],
            end=_center((-10, -50, -44), side),
            prefer=np.array([0.0, -1.0, 0.0]),
        )


def _contact_vessel(
    b: _Builder, cid: str, name: str, nerve: str, side: str, origin: FloatArray, end: FloatArray, prefer: FloatArray
) -> None:
    param = b.catalog[cid]
    touch = b.sampler.present(param)
    radius = b.sampler.size(param)
    line, key = ph._atlas_centerline(b.atlas, nerve, ("cisternal",), side)
    if not len(line):
        b.vessel(cid, name, np.stack([origin, 0.5 * (origin + end), end]), radius)
        return
    r_nerve = NORMAL_NERVE_RADIUS_MM.get(nerve, 0.5)
    points, apex, designed = _loop_to_nerve(origin, line, r_nerve, radius, end, touch, b.rng, prefer)
    enh = b.sampler.within(param.enhancement)
    if b.model == "C":
        # Keep the apex exactly where designed: wiggle only the approach and the run-off, and drop the
        # wiggle where it would bring the vessel closer to the nerve than designed.
        left = _tortuous(points[:4], b.rng, float(b.rng.uniform(0.3, 1.2)))
        right = _tortuous(points[3:], b.rng, float(b.rng.uniform(0.3, 1.2)))
        line_pts = np.vstack([left, right[1:]])
        if _min_distance(line, _densify(line_pts, 0.1)) < designed - 0.05:
            line_pts = points
        r_arr = radius * np.linspace(1.0, float(b.rng.uniform(0.8, 1.0)), len(line_pts))
        vessel = Structure(name, "vessel", Kind.TUBE, enh, line_pts, r_arr, anchored_to=key, catalog_id=cid)
    else:
        vessel = Structure(name, "vessel", Kind.TUBE, enh, points, radius, anchored_to=key, catalog_id=cid)
    b.out.append(vessel)
    # Densely sampled: a straight piece of the vessel can pass the nerve between its vertices.
    centre_distance = _min_distance(line, _densify(vessel.points_mm, 0.1))
    b.contacts.append(
        {
            "vessel": name,
            "nerve_segment": key,
            # what was drawn (the reported prevalence) and what the geometry turned out to be
            "designed_touch": touch,
            "touches": bool(centre_distance <= r_nerve + radius + 0.05),
            "nerve_radius_mm": r_nerve,
            "vessel_radius_mm": round(radius, 3),
            "centre_distance_mm": round(centre_distance, 3),
            "designed_distance_mm": round(designed, 3),
            "apex_template_mm": np.round(apex, 2).tolist(),
        }
    )


def _petrosal_vein(b: _Builder) -> None:
    if not b.has("petrosal_vein"):
        return
    for side in ("left", "right"):
        cn5, key = ph._atlas_centerline(b.atlas, "CN5", ("cisternal",), side)
        if not len(cn5):
            continue
        # From the lateral pons beside the trigeminal root up to the superior petrosal sinus.
        start = cn5[len(cn5) // 2] + np.array([-2.0 if side == "left" else 2.0, -3.5, 1.0])
        end = start + np.array([-8.0 if side == "left" else 8.0, 2.0, 9.0])
        b.vessel(
            "petrosal_vein", f"superior petrosal vein of Dandy ({side})", np.stack([start, 0.5 * (start + end), end])
        )
        b.out[-1] = Structure(
            b.out[-1].name,
            "venous_sinus",
            Kind.TUBE,
            b.out[-1].enhancement,
            b.out[-1].points_mm,
            b.out[-1].radius_mm,
            anchored_to=key,
            catalog_id="petrosal_vein",
        )


def model_structures(model: str, atlas: Atlas | None, rng: np.random.Generator) -> ModelDraw:
    """The physiologic structures of one case of ``model`` ("A", "B" or "C"), in template mm."""
    if model not in PHYSIOLOGY_MODELS:
        raise InputError(f"unknown physiology model {model!r}; allowed: {', '.join(PHYSIOLOGY_MODELS)}")
    if model == "A":
        return ModelDraw("A", ph.physiologic_structures(atlas))
    b = _Builder(model, atlas, rng)
    steps: tuple[Callable[[_Builder], None], ...] = (_venous, _plexus, _midline, _arteries, _petrosal_vein)
    for step in steps:
        step(b)
    return ModelDraw(model, tuple(b.out), tuple(b.contacts), {"contrast_timing": round(b.sampler.timing, 4)})


def catalog_markdown() -> str:
    """The structure × model table of docs/phantom.md, generated from :data:`CATALOG`."""
    ids = sorted({cid for cat in CATALOG.values() for cid in cat})
    lines = [
        "| structure | B: enhancement × WM (visible %) | B: size | C: enhancement × WM (visible %) | C: size "
        "| source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cid in ids:
        cells = []
        sources: list[str] = []
        for model in ("B", "C"):
            p = CATALOG[model].get(cid)
            if p is None:
                cells += ["—", "—"]
                continue
            prev = "" if p.prevalence >= 1.0 else f" ({p.prevalence:.0%})"
            cells.append(f"{p.enhancement[0]:g}–{p.enhancement[1]:g}{prev}")
            cells.append("—" if p.size is None else f"{p.size[0]:g}–{p.size[1]:g}")
            if p.source not in sources:
                sources.append(p.source)
        lines.append(f"| {cid.replace('_', ' ')} | {' | '.join(cells)} | {'; '.join(sources)} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "CATALOG",
    "NORMAL_NERVE_RADIUS_MM",
    "PHYSIOLOGY_MODELS",
    "ModelDraw",
    "Param",
    "catalog_markdown",
    "model_structures",
]
