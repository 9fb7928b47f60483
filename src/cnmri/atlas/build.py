"""Build the cranial nerve atlas v1 from named landmarks placed on the MNIColin27 template.

Every landmark below is a point in template world coordinates (RAS millimetres, the ``ch2.nii.gz``
grid: world = voxel index + (-90, -125, -71)). RAS means +x is the subject's RIGHT, +y anterior and
+z superior, so right-sided structures have x > 0 and left-sided ones x < 0.

Landmarks were placed by eye on the Colin27 T1 (axial, coronal and sagittal slices; bone is black,
CSF dark grey, nerves and brain light grey). Each side has its own coordinates because the head is
not perfectly symmetric. A segment is an ordered sequence of landmarks (brainstem outwards); it is
densified to points about every millimetre with linearly interpolated radii.

Run ``python -m cnmri.atlas.build`` to regenerate ``atlas/data/nerve_atlas_v1.json``; ``--check``
only compares the file on disk with what this module would write (exit 1 if they differ).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ATLAS_VERSION = "1.0.0"
SPACE = "MNIColin27"
TEMPLATE_FILE = "ch2.nii.gz (mricron-data), 181x217x181, 1 mm, RAS, origin (-90,-125,-71)"
DATA_PATH = Path(__file__).resolve().parent / "data" / "nerve_atlas_v1.json"
STEP_MM = 1.0

Point = tuple[float, float, float]

# ---------------------------------------------------------------------------------------------
# Landmarks, per side. Names are lowercase snake_case; side-specific coordinates (x > 0 = right).
# ---------------------------------------------------------------------------------------------

#: Midline landmarks (one point, no side).
MIDLINE: dict[str, Point] = {
    "chiasm_centre": (0.0, 6.0, -19.0),
}

#: Right-sided landmarks. The left side is in ``LEFT``; both are placed on the image separately.
RIGHT: dict[str, Point] = {
    # optic
    "chiasm_lateral_edge": (6.0, 8.0, -19.0),
    "optic_nerve_prechiasmatic_mid": (9.0, 14.0, -22.0),
    "optic_canal_intracranial_opening": (13.0, 21.0, -27.0),
    "optic_canal_orbital_opening": (18.0, 31.0, -31.0),
    # oculomotor
    "cn3_exit_interpeduncular_fossa": (4.0, -14.0, -19.0),
    "cn3_between_pca_sca": (8.0, -6.0, -20.0),
    "oculomotor_trigone": (12.0, 1.0, -22.0),
    "cavernous_sinus_lateral_wall_superior": (16.0, 8.0, -25.0),
    "superior_orbital_fissure": (20.0, 18.0, -30.0),
    # trochlear
    "cn4_exit_below_inferior_colliculus": (4.0, -36.0, -16.0),
    "ambient_cistern_cn4": (14.0, -31.0, -17.0),
    "crural_cistern_cn4": (17.5, -17.0, -21.0),
    "tentorial_edge_cn4_entry": (16.0, -1.0, -25.0),
    # trigeminal
    "cn5_root_exit_midpons": (19.0, -23.0, -34.0),
    "prepontine_cistern_cn5": (22.0, -15.0, -35.0),
    "porus_trigeminus": (24.0, -9.0, -36.0),
    "meckel_cave_centre": (25.0, -4.0, -38.0),
    "trigeminal_ganglion_anterior": (24.0, 0.0, -40.0),
    "v1_cavernous_lateral_wall": (20.0, 9.0, -33.0),
    "foramen_rotundum": (18.0, 13.0, -40.0),
    "v2_midpoint": (21.0, 6.0, -41.0),
    "foramen_ovale": (24.0, -3.0, -46.0),
    "v3_extracranial_proximal": (25.0, -2.0, -53.0),
    # abducens
    "cn6_exit_pontomedullary_junction": (5.0, -17.0, -46.0),
    "prepontine_cistern_cn6": (7.0, -12.0, -42.0),
    "dorello_canal_entry": (9.0, -8.0, -38.0),
    "dorello_canal_petrous_apex": (12.0, -4.0, -33.0),
    "cavernous_sinus_cn6": (15.0, 2.0, -31.0),
    # facial / vestibulocochlear (IAC seen as a grey CSF channel in black petrous bone, z about -41)
    "cn7_exit_pontomedullary_junction": (17.0, -29.0, -41.0),
    "cn8_exit_pontomedullary_junction": (18.0, -31.0, -42.0),
    "cerebellopontine_angle_cistern": (26.0, -26.0, -41.5),
    "porus_acusticus": (33.0, -23.5, -41.5),
    "iac_mid": (37.0, -22.5, -41.5),
    "iac_fundus": (40.5, -22.0, -41.5),
    "cn7_fundus_anterosuperior": (40.5, -21.0, -40.5),
    "labyrinthine_distal": (42.5, -18.5, -39.5),
    "geniculate_ganglion": (44.0, -16.5, -39.5),
    "tympanic_proximal": (45.0, -18.5, -40.0),
    "tympanic_mid": (45.5, -23.5, -41.5),
    "second_genu": (46.5, -28.0, -43.0),
    "mastoid_mid": (47.0, -29.0, -50.0),
    "stylomastoid_foramen": (47.0, -30.0, -57.0),
    # lower cranial nerves
    "cn9_exit_postolivary_sulcus": (10.0, -32.0, -51.0),
    "cn10_exit_postolivary_sulcus": (10.0, -34.0, -54.0),
    "cn11_exit_medulla": (9.0, -37.0, -59.0),
    "jugular_foramen_pars_nervosa_entry": (27.0, -28.0, -54.0),
    # CN10 and CN11 enter the pars vascularis, posterolateral to CN9's pars nervosa, behind the
    # jugular spine (Linn, AJNR 2009;30:34): estimated ~4 mm posterolateral-inferior.
    "jugular_foramen_pars_vascularis_entry": (28.5, -31.0, -56.0),
    "jugular_foramen_mid": (30.0, -27.0, -58.0),
    "jugular_foramen_exit": (32.0, -26.0, -63.0),
    "cn12_exit_preolivary_sulcus": (5.0, -32.5, -58.0),
    "hypoglossal_canal_entry": (14.0, -30.0, -63.0),
    "hypoglossal_canal_exit": (22.0, -24.0, -67.0),
}


def _mirror(point: Point) -> Point:
    return (-point[0], point[1], point[2])


#: Left-sided landmarks (x < 0).
LEFT: dict[str, Point] = {name: _mirror(p) for name, p in RIGHT.items()}


def _left_temporal(point: Point) -> Point:
    """Intratemporal facial nerve (not visible on T1): mirrored, then moved by the fundus offset."""
    x, y, z = _mirror(point)
    shift = np.subtract(LEFT["iac_fundus"], _mirror(RIGHT["iac_fundus"]))
    return (x + float(shift[0]), y + float(shift[1]), z + float(shift[2]))


LEFT.update(
    {
        "cn7_exit_pontomedullary_junction": (-19.0, -30.0, -41.0),
        "cn8_exit_pontomedullary_junction": (-20.0, -32.0, -42.0),
        "cerebellopontine_angle_cistern": (-26.0, -27.0, -40.5),
        "porus_acusticus": (-31.0, -23.5, -40.5),
        "iac_mid": (-35.0, -23.0, -40.5),
        "iac_fundus": (-38.5, -22.5, -40.5),
        "cn7_fundus_anterosuperior": (-38.5, -21.5, -39.5),
    }
)
for _name in (
    "labyrinthine_distal",
    "geniculate_ganglion",
    "tympanic_proximal",
    "tympanic_mid",
    "second_genu",
    "mastoid_mid",
    "stylomastoid_foramen",
):
    LEFT[_name] = _left_temporal(RIGHT[_name])

#: Within the cerebellopontine angle and the internal auditory canal the facial nerve runs
#: anterosuperior and the vestibulocochlear nerve posteroinferior (cochlear anteroinferior, vestibular
#: divisions posterior); centres ~2.5 mm apart in a canal ~5.9 mm wide (Folia Morphol 2012;71:217).
#: Separate courses let the measurement tell CN7 from CN8 where the resolution allows.
CN7_OFFSET_MM = (0.0, 1.0, 1.0)
CN8_OFFSET_MM = (0.0, -0.8, -1.0)


def _offset(point: Point, offset: tuple[float, float, float]) -> Point:
    return (point[0] + offset[0], point[1] + offset[1], point[2] + offset[2])


for _side in (RIGHT, LEFT):
    for _name in ("cerebellopontine_angle_cistern", "porus_acusticus", "iac_mid"):
        _side[f"cn7_{_name}"] = _offset(_side[_name], CN7_OFFSET_MM)
        _side[f"cn8_{_name}"] = _offset(_side[_name], CN8_OFFSET_MM)
    _side["cn8_iac_fundus"] = _offset(_side["iac_fundus"], CN8_OFFSET_MM)

# ---------------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------------

GEBARSKI = "Gebarski, Radiology 1992;183:391"
MARTIN = "Martin-Duverneuil, Neuroradiology 1997"
KINOSHITA = "Kinoshita, Clin Radiol 2001;56:926"
SAREMI = "Saremi, AJR 2005;185:1487"
WILLIAMS = "Williams, AJNR 2003;24:1317"
MARK = "Mark, AJNR 1992;13:1463"
LINN = "Linn, AJNR 2009;30:34"
HYPOGLOSSAL = "hypoglossal canal venous plexus enhancement in 100%, AJNR (PMC8337779)"


@dataclass(frozen=True)
class SegmentSpec:
    nerve: str
    segment: str
    landmarks: tuple[str, ...]
    radius_mm: tuple[float, ...]  # one per landmark, or a single value for all
    physiologic_enhancement: bool
    reference: str
    neighbours: tuple[str, ...] = ()
    shared_with: tuple[str, ...] = ()
    note: str = ""


SEGMENTS: tuple[SegmentSpec, ...] = (
    # CN2 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN2",
        "prechiasmatic",
        ("chiasm_lateral_edge", "optic_nerve_prechiasmatic_mid", "optic_canal_intracranial_opening"),
        (2.5,),
        False,
        f"{SAREMI}; optic nerve has a blood-brain barrier and does not enhance",
        ("ophthalmic artery", "anterior cerebral artery A1"),
    ),
    SegmentSpec(
        "CN2",
        "intracanalicular",
        ("optic_canal_intracranial_opening", "optic_canal_orbital_opening"),
        (2.5,),
        False,
        f"{SAREMI}; dural sheath may enhance faintly, the nerve does not",
        ("ophthalmic artery", "optic nerve sheath dura"),
    ),
    # CN3 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN3",
        "cisternal",
        ("cn3_exit_interpeduncular_fossa", "cn3_between_pca_sca", "oculomotor_trigone"),
        (2.0,),
        False,
        f"{MARK}: cisternal oculomotor nerve never enhances (0/50 controls)",
        ("posterior cerebral artery", "superior cerebellar artery", "posterior communicating artery"),
    ),
    SegmentSpec(
        "CN3",
        "cavernous",
        ("oculomotor_trigone", "cavernous_sinus_lateral_wall_superior", "superior_orbital_fissure"),
        (2.0,),
        True,
        f"{SAREMI}; runs in the lateral wall of the enhancing cavernous sinus",
        ("cavernous sinus", "internal carotid artery (cavernous)"),
    ),
    # CN4 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN4",
        "cisternal",
        ("cn4_exit_below_inferior_colliculus", "ambient_cistern_cn4", "crural_cistern_cn4", "tentorial_edge_cn4_entry"),
        (1.5,),
        False,
        f"{SAREMI}; cisternal segments do not enhance normally",
        ("superior cerebellar artery", "posterior cerebral artery", "tentorial edge dura"),
    ),
    # CN5 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN5",
        "cisternal",
        ("cn5_root_exit_midpons", "prepontine_cistern_cn5", "porus_trigeminus"),
        (2.5,),
        False,
        f"{SAREMI}: the cisternal root should not enhance",
        ("superior cerebellar artery", "superior petrosal vein"),
    ),
    SegmentSpec(
        "CN5",
        "meckel_cave",
        ("porus_trigeminus", "meckel_cave_centre", "trigeminal_ganglion_anterior"),
        (3.5, 4.0, 4.0),
        True,
        f"{WILLIAMS}: dura and perineural plexus of Meckel's cave enhance",
        ("Meckel's cave dura", "cavernous sinus", "petroclival venous plexus"),
    ),
    SegmentSpec(
        "CN5",
        "V1",
        ("trigeminal_ganglion_anterior", "v1_cavernous_lateral_wall", "superior_orbital_fissure"),
        (1.8,),
        True,
        f"{SAREMI}; V1 runs in the lateral wall of the enhancing cavernous sinus",
        ("cavernous sinus",),
        note="physiologic because of the cavernous sinus around it",
    ),
    SegmentSpec(
        "CN5",
        "V2",
        ("trigeminal_ganglion_anterior", "v2_midpoint", "foramen_rotundum"),
        (2.0,),
        True,
        f"{WILLIAMS}: perineural venous plexus seen around V2 in 91%",
        ("cavernous sinus", "perineural venous plexus of foramen rotundum"),
    ),
    SegmentSpec(
        "CN5",
        "V3",
        ("trigeminal_ganglion_anterior", "foramen_ovale", "v3_extracranial_proximal"),
        (2.5,),
        True,
        f"{WILLIAMS}: perineural venous plexus around V3 in 97%",
        ("foramen ovale venous plexus", "pterygoid venous plexus"),
    ),
    # CN6 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN6",
        "cisternal",
        ("cn6_exit_pontomedullary_junction", "prepontine_cistern_cn6", "dorello_canal_entry"),
        (1.5,),
        False,
        f"{SAREMI}; cisternal abducens nerve does not enhance",
        ("basilar artery", "anterior inferior cerebellar artery"),
    ),
    SegmentSpec(
        "CN6",
        "dorello",
        ("dorello_canal_entry", "dorello_canal_petrous_apex", "cavernous_sinus_cn6"),
        (2.0,),
        True,
        "petroclival (Dorello) venous plexus around the nerve enhances normally (clinical.md 2.2, consensus)",
        ("petroclival venous plexus", "basilar venous plexus", "cavernous sinus"),
    ),
    # CN7 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN7",
        "cisternal",
        ("cn7_exit_pontomedullary_junction", "cn7_cerebellopontine_angle_cistern", "cn7_porus_acusticus"),
        (1.6,),
        False,
        f"{GEBARSKI}: 0% of normal cisternal facial nerves enhance; {MARTIN}",
        ("anterior inferior cerebellar artery loop", "petrosal vein"),
    ),
    SegmentSpec(
        "CN7",
        "canalicular",
        ("cn7_porus_acusticus", "cn7_iac_mid", "cn7_fundus_anterosuperior"),
        (1.5,),
        False,
        f"{GEBARSKI}; {KINOSHITA}: canalicular enhancement 0% at 1.0-1.5 T",
        ("anterior inferior cerebellar artery loop (may enter the canal)",),
        note="fat-suppressed 3D gradient echo (VIBE) shows normal canalicular enhancement in 60-80%",
    ),
    SegmentSpec(
        "CN7",
        "labyrinthine",
        ("cn7_fundus_anterosuperior", "labyrinthine_distal"),
        (1.5,),
        True,
        f"{MARTIN}: 78% enhance; {KINOSHITA}: 0% at 1.0 T; sequence-dependent",
        ("circummeningeal arteriovenous plexus",),
        note="sequence-dependent: normal on fat-suppressed VIBE, suspicious on 1.0-1.5 T 2D/SPGR",
    ),
    SegmentSpec(
        "CN7",
        "geniculate",
        ("labyrinthine_distal", "geniculate_ganglion", "tympanic_proximal"),
        (2.0,),
        True,
        f"{GEBARSKI}; {MARTIN}: 97% enhance (perineural arteriovenous plexus)",
        ("greater superficial petrosal nerve plexus", "middle meningeal artery petrosal branch"),
    ),
    SegmentSpec(
        "CN7",
        "tympanic",
        ("tympanic_proximal", "tympanic_mid", "second_genu"),
        (1.8,),
        True,
        f"{GEBARSKI}; {MARTIN}: 88% enhance",
        ("perineural arteriovenous plexus", "middle ear mucosa"),
    ),
    SegmentSpec(
        "CN7",
        "mastoid",
        ("second_genu", "mastoid_mid", "stylomastoid_foramen"),
        (2.0,),
        True,
        f"{GEBARSKI}; {MARTIN}: 67% enhance; Hong 2010: 100% at 3 T",
        ("stylomastoid artery plexus", "mastoid air cells mucosa"),
    ),
    # CN8 ------------------------------------------------------------------------------------
    SegmentSpec(
        "CN8",
        "cisternal",
        ("cn8_exit_pontomedullary_junction", "cn8_cerebellopontine_angle_cistern", "cn8_porus_acusticus"),
        (1.7,),
        False,
        f"{MARTIN}: any enhancement of CN8 is pathological",
        (
            "anterior inferior cerebellar artery loop",
            "flocculus",
            "choroid plexus (foramen of Luschka)",
            "CN7 (anterosuperior)",
        ),
    ),
    SegmentSpec(
        "CN8",
        "canalicular",
        ("cn8_porus_acusticus", "cn8_iac_mid", "cn8_iac_fundus"),
        (1.6,),
        False,
        f"{MARTIN}: any enhancement of CN8 is pathological",
        ("anterior inferior cerebellar artery loop (may enter the canal)", "CN7 (anterosuperior)"),
    ),
    # CN9-11 ---------------------------------------------------------------------------------
    SegmentSpec(
        "CN9",
        "cisternal",
        ("cn9_exit_postolivary_sulcus", "jugular_foramen_pars_nervosa_entry"),
        (1.5,),
        False,
        f"{SAREMI}; cisternal segments do not enhance normally",
        ("posterior inferior cerebellar artery", "choroid plexus (foramen of Luschka)"),
    ),
    SegmentSpec(
        "CN9",
        "jugular_foramen",
        ("jugular_foramen_pars_nervosa_entry", "jugular_foramen_mid", "jugular_foramen_exit"),
        (2.5,),
        True,
        f"{LINN}: nerves are non-enhancing defects in enhancing venous blood",
        ("jugular bulb", "inferior petrosal sinus"),
        shared_with=("CN10", "CN11"),
    ),
    SegmentSpec(
        "CN10",
        "cisternal",
        ("cn10_exit_postolivary_sulcus", "jugular_foramen_pars_vascularis_entry"),
        (1.6,),
        False,
        f"{SAREMI}; cisternal segments do not enhance normally",
        ("posterior inferior cerebellar artery", "vertebral artery"),
    ),
    SegmentSpec(
        "CN10",
        "jugular_foramen",
        ("jugular_foramen_pars_vascularis_entry", "jugular_foramen_mid", "jugular_foramen_exit"),
        (2.5,),
        True,
        f"{LINN}: nerves are non-enhancing defects in enhancing venous blood",
        ("jugular bulb", "sigmoid sinus"),
        shared_with=("CN9", "CN11"),
    ),
    SegmentSpec(
        "CN11",
        "cisternal",
        ("cn11_exit_medulla", "jugular_foramen_pars_vascularis_entry"),
        (1.5,),
        False,
        f"{SAREMI}; cisternal segments do not enhance normally",
        ("vertebral artery", "posterior inferior cerebellar artery"),
    ),
    SegmentSpec(
        "CN11",
        "jugular_foramen",
        ("jugular_foramen_pars_vascularis_entry", "jugular_foramen_mid", "jugular_foramen_exit"),
        (2.5,),
        True,
        f"{LINN}: nerves are non-enhancing defects in enhancing venous blood",
        ("jugular bulb", "sigmoid sinus"),
        shared_with=("CN9", "CN10"),
    ),
    # CN12 -----------------------------------------------------------------------------------
    SegmentSpec(
        "CN12",
        "cisternal",
        ("cn12_exit_preolivary_sulcus", "hypoglossal_canal_entry"),
        (1.8,),
        False,
        f"{SAREMI}; cisternal segments do not enhance normally",
        ("vertebral artery", "posterior inferior cerebellar artery"),
    ),
    SegmentSpec(
        "CN12",
        "hypoglossal_canal",
        ("hypoglossal_canal_entry", "hypoglossal_canal_exit"),
        (2.5,),
        True,
        f"{HYPOGLOSSAL}; nerve seen as a linear defect in 75%",
        ("hypoglossal canal venous plexus", "foramen magnum meninges"),
    ),
)

#: Reference regions (spheres of normally non-enhancing tissue) for intensity normalisation.
REFERENCE_REGIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "pons",
        "center_mm": [0.0, -27.0, -34.0],
        "radius_mm": 5.0,
        "tissue": "central pons (tegmentum/basis junction), non-enhancing, >8 mm behind the basilar artery",
    },
    {
        "name": "cerebellar_white_matter_right",
        "center_mm": [24.0, -50.0, -32.0],
        "radius_mm": 4.0,
        "tissue": "right middle cerebellar peduncle / hemispheric white matter, non-enhancing",
    },
    {
        "name": "cerebellar_white_matter_left",
        "center_mm": [-24.0, -50.0, -32.0],
        "radius_mm": 4.0,
        "tissue": "left middle cerebellar peduncle / hemispheric white matter, non-enhancing",
    },
)

SIDES: tuple[str, ...] = ("right", "left")

#: Skull-base landmarks whose subject-space position every analysis reports (findings.json
#: ``registration.skull_base_landmarks_*``), so a benchmark that knows the true deformation can score
#: the registration error where it matters. Written to the atlas file as ``qc_landmarks``.
QC_LANDMARKS: tuple[str, ...] = (
    "porus_acusticus",
    "iac_fundus",
    "geniculate_ganglion",
    "stylomastoid_foramen",
    "jugular_foramen_mid",
    "hypoglossal_canal_entry",
    "foramen_ovale",
    "meckel_cave_centre",
    "dorello_canal_entry",
)


def landmark(name: str, side: str) -> NDArray[np.float64]:
    """Coordinates (RAS mm) of a named landmark on one side (midline landmarks ignore ``side``)."""
    if name in MIDLINE:
        return np.asarray(MIDLINE[name], dtype=np.float64)
    table = RIGHT if side == "right" else LEFT
    return np.asarray(table[name], dtype=np.float64)


def densify(
    nodes: NDArray[np.float64], radii: NDArray[np.float64], step_mm: float = STEP_MM
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Resample a polyline (through every node) to points about ``step_mm`` apart, radii interpolated."""
    points: list[NDArray[np.float64]] = [nodes[0]]
    out_r: list[float] = [float(radii[0])]
    for a, b, ra, rb in zip(nodes[:-1], nodes[1:], radii[:-1], radii[1:], strict=True):
        length = float(np.linalg.norm(b - a))
        n = max(1, round(length / step_mm))
        for t in np.linspace(0.0, 1.0, n + 1)[1:]:
            points.append(a + t * (b - a))
            out_r.append(float(ra + t * (rb - ra)))
    return np.vstack(points), np.asarray(out_r)


def _radii(spec: SegmentSpec) -> NDArray[np.float64]:
    if len(spec.radius_mm) == 1:
        return np.full(len(spec.landmarks), spec.radius_mm[0])
    if len(spec.radius_mm) != len(spec.landmarks):
        raise ValueError(f"{spec.nerve} {spec.segment}: one radius per landmark or a single radius")
    return np.asarray(spec.radius_mm, dtype=np.float64)


def build_segment(spec: SegmentSpec, side: str) -> dict[str, Any]:
    nodes = np.vstack([landmark(name, side) for name in spec.landmarks])
    points, radii = densify(nodes, _radii(spec))
    placed = ", ".join(f"{n} ({', '.join(f'{v:g}' for v in landmark(n, side))})" for n in spec.landmarks)
    entry: dict[str, Any] = {
        "nerve": spec.nerve,
        "side": side,
        "segment": spec.segment,
        "points_mm": np.round(points, 2).tolist(),
        "radius_mm": np.round(radii, 2).tolist(),
        "physiologic_enhancement": spec.physiologic_enhancement,
        "source": f"{spec.reference}. Placed by eye on MNIColin27 through: {placed}",
        "landmarks": list(spec.landmarks),
        "neighbours": list(spec.neighbours),
        "shared_with": list(spec.shared_with),
    }
    if spec.note:
        entry["note"] = spec.note
    return entry


def qc_landmarks() -> dict[str, list[float]]:
    """``atlas_<landmark>_<side>`` -> template RAS mm of every QC landmark, left before right."""
    return {
        f"atlas_{name}_{side}": [float(v) for v in landmark(name, side)]
        for name in QC_LANDMARKS
        for side in ("left", "right")
    }


def build_atlas() -> dict[str, Any]:
    """The whole atlas as the JSON payload :func:`cnmri.atlas.model.parse_atlas` reads."""
    segments = [build_segment(spec, side) for spec in SEGMENTS for side in SIDES]
    return {
        "atlas_version": ATLAS_VERSION,
        "space": SPACE,
        "segments": segments,
        "reference_regions": [dict(r) for r in REFERENCE_REGIONS],
        "qc_landmarks": qc_landmarks(),
        "notes": {
            "template": TEMPLATE_FILE,
            "coordinates": "world RAS millimetres of the template: +x = subject right, +y anterior, +z superior",
            "order": "points run from the brainstem outwards; consecutive segments share their junction point",
            "sampling_mm": STEP_MM,
            "radius": "normal nerve radius plus about 0.5-1 mm margin for registration error; Meckel's cave "
            "and the jugular foramen are wider",
            "placement": "landmarks placed by eye on the single-subject Colin27 T1; expect 1-3 mm error, "
            "more for intraosseous segments of the facial nerve and the lower cranial nerves",
            "generator": "python -m cnmri.atlas.build",
            "landmarks": {
                "midline": {k: list(v) for k, v in MIDLINE.items()},
                "right": {k: list(v) for k, v in RIGHT.items()},
                "left": {k: list(v) for k, v in LEFT.items()},
            },
        },
    }


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.]+(?:,\s*-?[\d.]+)*)\s*\]")


def render(payload: dict[str, Any]) -> str:
    """Indented JSON with every innermost list of numbers kept on one line (readable diffs)."""
    text = json.dumps(payload, indent=1)
    text = _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    return text + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnmri.atlas.build", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DATA_PATH, help="where to write the atlas JSON")
    parser.add_argument("--check", action="store_true", help="only check that the file is up to date")
    args = parser.parse_args(argv)
    text = render(build_atlas())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run python -m cnmri.atlas.build", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(json.loads(text)['segments'])} segments)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
