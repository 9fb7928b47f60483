"""Normal (physiologic) contrast enhancement of a post-contrast T1, placed by anatomy in template space.

A detector must not call these abnormal. Every structure carries the enhancement it adds to the
post-contrast image as a fraction of white-matter signal (post − pre = fraction × WM inside it).

Where the structure is a sleeve around a nerve segment (perineural venous plexus, the normally
enhancing facial segments, the dural lining of Meckel's cave) it is anchored to that segment's atlas
centerline when the atlas has it, because the plexus is where the nerve is; otherwise, and for every
other structure, the phantom's own landmarks below are used (MNIColin27 / MNI RAS mm, read off the
Colin27 head). Nothing here measures anything: it only draws.

Enhancement levels are round figures chosen to look like a 3D gradient-echo T1 ten minutes after a
standard gadolinium dose: venous sinuses and the cavernous sinus about as bright as white matter
again, choroid plexus and pituitary somewhat less, the perineural plexus a bit less, the normal facial
geniculate/tympanic/mastoid segments mild (clinical fact sheet §2: common, usually mild).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri.atlas.model import Atlas

FloatArray = NDArray[np.float64]


class Kind(StrEnum):
    TUBE = "tube"
    SLEEVE = "sleeve"
    ELLIPSOID = "ellipsoid"


@dataclass(frozen=True)
class Structure:
    """One normally enhancing structure in template space."""

    name: str
    group: str  # venous_sinus | cavernous_sinus | choroid_plexus | pituitary | perineural_plexus |
    # facial_normal | vessel | dura
    kind: Kind
    enhancement: float  # post − pre as a fraction of white-matter signal
    points_mm: FloatArray = field(default_factory=lambda: np.zeros((0, 3)))
    radius_mm: FloatArray | float = 1.0
    inner_radius_mm: FloatArray | float | None = None
    center_mm: FloatArray = field(default_factory=lambda: np.zeros(3))
    semi_axes_mm: FloatArray = field(default_factory=lambda: np.ones(3))
    anchored_to: str = ""  # atlas segment key when placed from the atlas centerline
    catalog_id: str = ""  # key of cnmri.phantom.models.CATALOG (models B, C): where its range is documented

    def to_truth(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "group": self.group,
            "kind": self.kind.value,
            "enhancement_wm": self.enhancement,
        }
        if self.kind is Kind.ELLIPSOID:
            out["center_mm"] = np.round(self.center_mm, 2).tolist()
            out["semi_axes_mm"] = np.round(self.semi_axes_mm, 2).tolist()
        else:
            out["points_mm"] = np.round(self.points_mm, 2).tolist()
            out["radius_mm"] = np.round(np.broadcast_to(self.radius_mm, (len(self.points_mm),)), 2).tolist()
            if self.inner_radius_mm is not None:
                out["inner_radius_mm"] = np.round(
                    np.broadcast_to(self.inner_radius_mm, (len(self.points_mm),)), 2
                ).tolist()
        if self.anchored_to:
            out["anchored_to"] = self.anchored_to
        if self.catalog_id:
            out["catalog_id"] = self.catalog_id
        return out


def _p(*rows: tuple[float, float, float]) -> FloatArray:
    return np.asarray(rows, dtype=np.float64)


def _mirror(points: FloatArray) -> FloatArray:
    out = np.array(points, dtype=np.float64)
    out[..., 0] *= -1
    return out


# ---- landmarks of the phantom (template RAS mm), left side (x < 0); right side mirrored -----------------
#: Superior sagittal sinus, frontal to the torcular herophili, just inside the inner table.
SSS = _p(
    (0, 60, 40),
    (0, 45, 60),
    (0, 25, 71),
    (0, 0, 77),
    (0, -25, 77),
    (0, -50, 70),
    (0, -72, 55),
    (0, -90, 35),
    (0, -99, 15),
    (0, -100, 3),
)
#: Straight sinus, vein of Galen to the torcula.
STRAIGHT = _p((0, -50, 5), (0, -65, 8), (0, -82, 6), (0, -97, 3))
#: Left transverse + sigmoid sinus to the jugular bulb.
TRANSVERSE_SIGMOID_L = _p(
    (0, -100, 3),
    (-22, -101, 0),
    (-42, -92, -6),
    (-53, -75, -13),
    (-54, -60, -22),
    (-48, -50, -32),
    (-41, -40, -41),
    (-37, -33, -47),
)
#: Inferior petrosal sinus: cavernous sinus along the petroclival fissure to the jugular bulb.
JUGULAR_BULB_L = (-37.0, -33.0, -48.0)
INF_PETROSAL_L = _p((-14, -8, -33), (-20, -18, -40), (-28, -26, -45), (-35, -32, -47))
CAVERNOUS_L = {"center": (-14.0, -3.0, -30.0), "semi": (4.0, 9.0, 5.0)}
PITUITARY = {"center": (0.0, 2.0, -32.0), "semi": (6.0, 5.0, 3.0)}
INFUNDIBULUM = _p((0, 0, -29), (0, -2, -24), (0, -3, -17))
#: Glomus of the choroid plexus in the atrium of the lateral ventricle, and the fourth-ventricle tuft
#: reaching the foramen of Luschka (a classic mimic beside CN9 in the cerebellomedullary angle).
CHOROID_GLOMUS_L = {"center": (-28.0, -42.0, 12.0), "semi": (4.0, 6.0, 4.0)}
CHOROID_4V = _p((0, -48, -30), (-6, -46, -33), (-13, -44, -37), (-19, -42, -41))
#: Basilar and vertebral arteries in the prepontine and premedullary cisterns.
BASILAR = _p((0, -9, -18), (0, -8, -26), (0, -9, -33), (0, -11, -40), (0, -12, -46))
VERTEBRAL_L = _p((0, -12, -40), (-4, -14, -48), (-8, -22, -58), (-12, -32, -66))
#: Superior cerebellar artery around the upper pons (beside CN3/CN4), posterior inferior cerebellar
#: artery loop below the jugular foramen nerves.
SCA_L = _p((0, -8, -18), (-8, -10, -19), (-15, -16, -20), (-20, -26, -18), (-22, -36, -15))
PICA_L = _p((-6, -20, -52), (-14, -28, -53), (-18, -36, -50), (-16, -44, -46), (-10, -50, -44))
#: Anterior inferior cerebellar artery loop in the cerebellopontine angle: from the basilar artery
#: laterally to the porus of the internal auditory canal, where it touches CN7/CN8, and back.
AICA_L = _p(
    (0, -11, -34),
    (-8, -14, -35),
    (-16, -19, -33),
    (-22, -23, -31),
    (-26, -25, -29),
    (-24, -29, -27),
    (-18, -31, -27),
    (-14, -33, -30),
)
#: Fallback centerlines for the plexus structures when the atlas lacks the segment.
HYPOGLOSSAL_CANAL_L = _p((-12, -33, -55), (-17, -31, -58), (-22, -29, -60))
FORAMEN_OVALE_L = _p((-22, -4, -40), (-23, -3, -46), (-24, -2, -52))
DORELLO_L = _p((-4, -12, -30), (-6, -12, -26), (-8, -11, -23))
MECKEL_L = _p((-19, -14, -28), (-23, -10, -30), (-26, -6, -32))
FACIAL_GENICULATE_L = _p((-33, -16, -28), (-35, -17, -29))
FACIAL_TYMPANIC_L = _p((-35, -17, -29), (-40, -22, -33), (-43, -27, -35))
FACIAL_MASTOID_L = _p((-43, -27, -35), (-43, -29, -43), (-42, -30, -51))

#: (atlas nerve, candidate segment names, fallback centerline, name, group, enhancement, inner, outer radius)
_SLEEVES: tuple[tuple[str, tuple[str, ...], FloatArray, str, str, float, float | None, float], ...] = (
    (
        "CN12",
        ("hypoglossal_canal", "canal"),
        HYPOGLOSSAL_CANAL_L,
        "hypoglossal canal venous plexus",
        "perineural_plexus",
        0.8,
        1.0,
        2.6,
    ),
    (
        "CN5",
        ("V3", "v3", "mandibular"),
        FORAMEN_OVALE_L,
        "foramen ovale venous plexus",
        "perineural_plexus",
        0.7,
        1.2,
        2.6,
    ),
    (
        "CN6",
        ("dorello", "dorello_canal", "petroclival"),
        DORELLO_L,
        "Dorello's canal venous plexus",
        "perineural_plexus",
        0.7,
        0.8,
        2.2,
    ),
    (
        "CN5",
        ("meckel", "meckels_cave", "ganglion", "meckel_cave"),
        MECKEL_L,
        "Meckel's cave dura",
        "dura",
        0.5,
        2.2,
        3.2,
    ),
    (
        "CN7",
        ("geniculate",),
        FACIAL_GENICULATE_L,
        "facial geniculate ganglion (normal)",
        "facial_normal",
        0.25,
        None,
        1.2,
    ),
    (
        "CN7",
        ("tympanic",),
        FACIAL_TYMPANIC_L,
        "facial tympanic segment (normal)",
        "facial_normal",
        0.2,
        None,
        1.0,
    ),
    (
        "CN7",
        ("mastoid",),
        FACIAL_MASTOID_L,
        "facial mastoid segment (normal)",
        "facial_normal",
        0.2,
        None,
        1.0,
    ),
)


def _atlas_centerline(atlas: Atlas | None, nerve: str, names: tuple[str, ...], side: str) -> tuple[FloatArray, str]:
    if atlas is None:
        return np.zeros((0, 3)), ""
    for seg in atlas.segments:
        if (
            seg.nerve == nerve
            and seg.side.value == side
            and (seg.segment in names or any(n in seg.segment.lower() for n in names))
        ):
            return np.asarray(seg.points_mm, dtype=np.float64), seg.key
    return np.zeros((0, 3)), ""


def _sided(name: str, side: str) -> str:
    return f"{name} ({side})"


def physiologic_structures(atlas: Atlas | None = None) -> tuple[Structure, ...]:
    """All normally enhancing structures of the phantom, both sides, in template space."""
    out: list[Structure] = [
        Structure("superior sagittal sinus", "venous_sinus", Kind.TUBE, 1.0, SSS, 3.5),
        Structure("straight sinus", "venous_sinus", Kind.TUBE, 1.0, STRAIGHT, 2.5),
        Structure(
            "pituitary gland",
            "pituitary",
            Kind.ELLIPSOID,
            0.8,
            center_mm=np.asarray(PITUITARY["center"]),
            semi_axes_mm=np.asarray(PITUITARY["semi"]),
        ),
        Structure("infundibulum", "pituitary", Kind.TUBE, 0.8, INFUNDIBULUM, 1.3),
        Structure("basilar artery", "vessel", Kind.TUBE, 0.8, BASILAR, 1.6),
    ]
    for side, sign in (("left", 1.0), ("right", -1.0)):

        def m(points: FloatArray, sign: float = sign) -> FloatArray:
            return points if sign > 0 else _mirror(points)

        def c(xyz: tuple[float, float, float], sign: float = sign) -> FloatArray:
            v = np.asarray(xyz, dtype=np.float64)
            return v if sign > 0 else v * np.array([-1.0, 1.0, 1.0])

        # The jugular bulb (pars vascularis) sits posterolateral to the nerves of the jugular foramen;
        # anchor it to the atlas's foramen when there is one so the nerves run beside enhancing blood.
        bulb = c(JUGULAR_BULB_L)
        jf, jf_key = _atlas_centerline(atlas, "CN9", ("jugular_foramen", "jugular"), side)
        if len(jf):
            bulb = jf.mean(axis=0) + np.array([-5.0 * sign, -5.0, 2.0])
        sigmoid = m(TRANSVERSE_SIGMOID_L).copy()
        sigmoid[-1] = bulb
        sigmoid[-2] = 0.5 * (sigmoid[-3] + bulb)
        petrosal = m(INF_PETROSAL_L).copy()
        petrosal[-1] = bulb
        out += [
            Structure(
                _sided("transverse-sigmoid sinus", side),
                "venous_sinus",
                Kind.TUBE,
                1.0,
                sigmoid,
                np.linspace(4.0, 3.5, len(TRANSVERSE_SIGMOID_L)),
            ),
            Structure(
                _sided("jugular bulb", side),
                "venous_sinus",
                Kind.ELLIPSOID,
                1.0,
                center_mm=bulb,
                semi_axes_mm=np.array([4.5, 4.5, 4.0]),
                anchored_to=jf_key,
            ),
            Structure(
                _sided("inferior petrosal sinus", side),
                "venous_sinus",
                Kind.TUBE,
                0.9,
                petrosal,
                1.5,
            ),
            Structure(
                _sided("cavernous sinus", side),
                "cavernous_sinus",
                Kind.ELLIPSOID,
                0.95,
                center_mm=c(CAVERNOUS_L["center"]),
                semi_axes_mm=np.asarray(CAVERNOUS_L["semi"]),
            ),
            Structure(
                _sided("choroid plexus glomus", side),
                "choroid_plexus",
                Kind.ELLIPSOID,
                0.7,
                center_mm=c(CHOROID_GLOMUS_L["center"]),
                semi_axes_mm=np.asarray(CHOROID_GLOMUS_L["semi"]),
            ),
            Structure(
                _sided("choroid plexus, foramen of Luschka", side),
                "choroid_plexus",
                Kind.TUBE,
                0.6,
                m(CHOROID_4V),
                1.5,
            ),
            Structure(_sided("vertebral artery", side), "vessel", Kind.TUBE, 0.8, m(VERTEBRAL_L), 1.5),
            Structure(_sided("superior cerebellar artery", side), "vessel", Kind.TUBE, 0.7, m(SCA_L), 0.8),
            Structure(_sided("posterior inferior cerebellar artery", side), "vessel", Kind.TUBE, 0.7, m(PICA_L), 0.8),
        ]
        aica = m(AICA_L)
        cn7, key7 = _atlas_centerline(atlas, "CN7", ("cisternal",), side)
        if len(cn7):
            # Bend the loop so its apex touches the facial/vestibulocochlear complex halfway along the
            # cisternal segment, just below it (the classic loop in the CPA).
            apex = cn7[len(cn7) // 2] if len(cn7) > 2 else cn7.mean(axis=0)
            aica = aica.copy()
            shift = apex + np.array([0.0, 0.0, -1.6]) - aica[4]
            weights = np.array([0.0, 0.25, 0.6, 0.9, 1.0, 0.9, 0.6, 0.3])[:, None]
            aica = aica + weights * shift
        out.append(
            Structure(
                _sided("anterior inferior cerebellar artery loop", side),
                "vessel",
                Kind.TUBE,
                0.75,
                aica,
                0.8,
                anchored_to=key7,
            )
        )
        for nerve, names, fallback, name, group, enh, r_in, r_out in _SLEEVES:
            line, key = _atlas_centerline(atlas, nerve, names, side)
            if not len(line):
                line = m(fallback)
            kind = Kind.TUBE if r_in is None else Kind.SLEEVE
            out.append(Structure(_sided(name, side), group, kind, enh, line, r_out, r_in, anchored_to=key))
    return tuple(out)


__all__ = ["Kind", "Structure", "physiologic_structures"]
