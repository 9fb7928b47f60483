"""Differential diagnosis of cranial neuropathy in a patient with leukemia or lymphoma.

Each entity is a list of explicit features. A feature is a test on the case, a number of points, a
sentence shown to the reader and the source it rests on. Positive points are evidence *for* the entity,
negative points evidence *against* it.

Scoring (transparent, hand-set, not fitted to data)::

    points(entity) = base(entity) + sum(points of every feature that is present)
    score(entity)  = clip(1 / (1 + exp(-points)), 0.01, 0.95)

Points are on a natural-log odds scale in spirit (1 point ≈ a likelihood ratio of e ≈ 2.7), set by hand
from the strength of each discriminator in the cited sources; they are not estimated from data. Entities are
ranked by points. The score is a ranking aid on 0–1, not a probability of disease, and is capped at 0.95
so that no entity is ever presented as certain. A feature whose data is missing does not count; the
fields that would inform an entity are listed under ``missing``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnmri.assess.clinical.model import ClinicalCase

SCORE_FLOOR = 0.01
SCORE_CAP = 0.95

#: Canonical medication name -> accepted spellings (lower case, spaces and hyphens as underscores).
MEDICATION_ALIASES: dict[str, tuple[str, ...]] = {
    "vincristine": ("vincristine", "vcr", "oncovin", "vincristine_sulfate"),
    "nelarabine": ("nelarabine", "arranon", "ara_g", "atriance"),
    "intrathecal_methotrexate": (
        "intrathecal_methotrexate",
        "it_methotrexate",
        "it_mtx",
        "triple_intrathecal",
        "triple_intrathecal_therapy",
        "itt",
    ),
    "methotrexate": ("methotrexate", "mtx", "high_dose_methotrexate", "hd_mtx", "hdmtx"),
    "cytarabine": (
        "cytarabine",
        "ara_c",
        "cytosine_arabinoside",
        "intrathecal_cytarabine",
        "it_cytarabine",
        "high_dose_cytarabine",
    ),
    "cranial_radiotherapy": (
        "cranial_radiotherapy",
        "cranial_radiation",
        "cranial_irradiation",
        "radiotherapy",
        "radiation",
    ),
}
_ALIAS_TO_NAME = {alias: name for name, aliases in MEDICATION_ALIASES.items() for alias in aliases}
#: Recognised but not tied to any entity below.
NOT_LINKED = frozenset({"cytarabine"})


def canonical_medication(name: str) -> str | None:
    """The canonical name of a medication the differential knows, or ``None``."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return _ALIAS_TO_NAME.get(key)


@dataclass(frozen=True)
class Facts:
    """What the differential looks at, derived once from the case."""

    case: ClinicalCase
    palsies: tuple[str, ...] | None
    findings: tuple[str, ...] | None
    involved: frozenset[str]  # nerve-side items from the examination and imaging
    medications: dict[str, float | None] | None  # canonical name -> fewest days since a dose

    @property
    def nerves(self) -> frozenset[str]:
        return frozenset(item.split("-")[0] for item in self.involved)

    @property
    def sides(self) -> frozenset[str]:
        return frozenset(item.split("-")[1] for item in self.involved)

    @property
    def bilateral(self) -> bool:
        return len(self.sides) == 2

    @property
    def unilateral(self) -> bool:
        return len(self.sides) == 1

    @property
    def multiple_nerves(self) -> bool:
        return len(self.nerves) >= 2

    def has(self, *nerves: str) -> bool:
        return bool(self.nerves & set(nerves))

    def both_sides(self, nerve: str) -> bool:
        return {f"{nerve}-left", f"{nerve}-right"} <= self.involved

    @property
    def mri_normal(self) -> bool:
        return self.findings is not None and not self.findings

    @property
    def mri_abnormal(self) -> bool:
        return bool(self.findings)

    def drug_days(self, *names: str) -> float | None:
        """Fewest days since a dose of any of ``names``; ``math.inf`` if listed without days."""
        if not self.medications:
            return None
        days = [self.medications[n] for n in names if n in self.medications]
        if not days:
            return None
        known = [d for d in days if d is not None]
        return min(known) if known else math.inf

    def drug_given(self, *names: str) -> bool:
        return self.drug_days(*names) is not None

    def drug_absent(self, *names: str) -> bool:
        """The medication list was given and none of ``names`` is on it."""
        return self.medications is not None and not self.drug_given(*names)

    def drug_within(self, low: float, high: float, *names: str) -> bool:
        days = self.drug_days(*names)
        return days is not None and days != math.inf and low <= days <= high

    @property
    def csf_blasts(self) -> bool:
        return self.case.csf.blasts is True

    @property
    def csf_quiet(self) -> bool:
        """No blasts and fewer than 5 white cells per µL."""
        csf = self.case.csf
        return csf.blasts is False and csf.wbc_per_ul is not None and csf.wbc_per_ul < 5

    @property
    def pleocytosis_without_blasts(self) -> bool:
        csf = self.case.csf
        return csf.blasts is False and csf.wbc_per_ul is not None and csf.wbc_per_ul >= 5

    @property
    def albuminocytologic(self) -> bool:
        csf = self.case.csf
        return (
            csf.protein_mg_dl is not None
            and csf.protein_mg_dl > 45
            and csf.wbc_per_ul is not None
            and csf.wbc_per_ul < 10
        )

    @property
    def pet_avid(self) -> bool:
        value = self.case.imaging.pet_avid_nerves
        return bool(value)

    @property
    def neutropenic(self) -> bool:
        anc = self.case.blood.anc_per_ul
        return anc is not None and anc < 500


def make_facts(case: ClinicalCase, nerve_findings: list[str] | None = None) -> Facts:
    findings = nerve_findings if nerve_findings is not None else case.imaging.nerve_findings
    palsies = case.exam.cranial_nerve_palsies
    involved = frozenset((palsies or []) + list(findings or []))
    meds: dict[str, float | None] | None = None
    if case.medications is not None:
        meds = {}
        for med in case.medications:
            name = canonical_medication(med.name)
            if name is None:
                continue
            previous = meds.get(name)
            days = med.days_since_last_dose
            if name not in meds or (days is not None and (previous is None or days < previous)):
                meds[name] = days
    return Facts(
        case=case,
        palsies=tuple(palsies) if palsies is not None else None,
        findings=tuple(findings) if findings is not None else None,
        involved=involved,
        medications=meds,
    )


def unconsidered_medications(case: ClinicalCase) -> list[str]:
    """One message per medication the differential does not use (allowed, but reported)."""
    messages: list[str] = []
    for index, med in enumerate(case.medications or []):
        name = canonical_medication(med.name)
        if name is None:
            messages.append(
                f"medications[{index}].name {med.name!r}: not a medication this differential knows; not "
                f"considered (known: {', '.join(MEDICATION_ALIASES)})"
            )
        elif name in NOT_LINKED:
            messages.append(
                f"medications[{index}].name {med.name!r}: recognised as {name}, but no entity of this "
                "differential depends on it; not considered"
            )
    return messages


@dataclass(frozen=True)
class Feature:
    """Evidence for (points > 0) or against (points < 0) one entity."""

    text: str
    points: float
    source: str
    present: Callable[[Facts], bool]


@dataclass(frozen=True)
class Entity:
    id: str
    label: str
    base: float
    features: tuple[Feature, ...]
    next_steps: tuple[str, ...]
    sources: tuple[str, ...]
    informative_fields: tuple[str, ...]  # field paths whose absence weakens the assessment


# Sources. "M" marks secondary or partly seen sources; "author's knowledge" marks unverified ones.
S_RADCR = "Radiol Case Rep 2025;20(12):6196, doi:10.1016/j.radcr.2025.09.019; Eurorad case 12889"
S_INGRAM = "Ingram LC et al., Cancer 1991;67:2262 (St Jude, 1,895 ALL/NHL)"
S_FACIAL = "Indian J Hematol Blood Transfus 2016;32:15; facial palsy 6/62 ALL, 4 T-ALL (scilit 2562a70e)"
S_FLOW = "Thastrup M et al., Leukemia 2020, doi:10.1038/s41375-019-0570-1; Biomolecules 2022;12:813"
S_CYTO = "Blood 2014;124:3799 (abstract): cytology sensitivity <50%; Pract Neurol 2024;24:503"
S_MRI = "Eur J Radiol 2012;81:974 (MRI sensitivity in leukemia 20%); Sci World J 2013:248072"
S_LEPTO = "Radiol Case Rep 2025;20(12):6196; EANO-ESMO leptomeningeal criteria, Neuro-Oncol 2021;23:1100"
S_GRISARIU = "Grisariu S et al., Blood 2010;115:5005 (neurolymphomatosis)"
S_MYELOID = "Secondary sources (M): myeloid sarcoma is an AML mass with restricted diffusion"
S_VZV = "AJNR 2008;29:1743 (unilateral with otalgia); PMID 29135869 (Ramsay Hunt on 3D-FLAIR and CISS)"
S_HSV = "Author's knowledge, no source checked (verify before relying on it)"
S_FUNGAL = "Insights Imaging 2021 (invasive fungal sinusitis, perineural spread to V/VII, cavernous sinus)"
S_GBS = "Secondary summary (M): albuminocytologic dissociation; cauda equina root enhancement in ~83%"
S_VCR = (
    "J AAPOS 2004;8:69 (vincristine VI palsy with enhancement; MRI is usually normal, vocal-cord palsy 1.36%)"
)
S_NEL = "AJNR 2022;43:1802; Clin Lymphoma Myeloma Leuk 2024, PMID 39013740"
S_MTX = "Author's knowledge (M, not verified): white-matter/DWI lesions without cranial nerve enhancement"
S_RT = "Secondary sources (M): onset months to years after radiotherapy, bulbar palsy after >10 y, atrophy"
S_BELL = (
    "PMC5020197 (bilateral facial palsy ≈1/5 million/yr, ~20% idiopathic); Kress B, Radiology 2004;230:504"
)
S_SARC = "AAN 2024 abstract (CN enhancement 52%, leptomeningeal 44%, bilateral VII 15–25%)"
S_LYME = "Lindland ES et al., Neuroradiology 2022;64:2323"

_LEUKEMIA = ("B-ALL", "T-ALL", "AML", "lymphoma")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "leukemic_infiltration",
        "Leukemic infiltration of cranial nerves / leptomeningeal leukemia",
        0.0,
        (
            Feature("Known leukemia or lymphoma", 0.5, S_INGRAM, lambda f: f.case.disease.type in _LEUKEMIA),
            Feature(
                "Disease is not a leukemia or lymphoma",
                -1.5,
                S_INGRAM,
                lambda f: f.case.disease.type == "other",
            ),
            Feature("Both sides involved", 1.5, S_RADCR, lambda f: f.bilateral),
            Feature("Several cranial nerves involved", 1.0, S_RADCR, lambda f: f.multiple_nerves),
            Feature(
                "T-ALL (over-represented among leukemic palsies)",
                0.5,
                S_FACIAL,
                lambda f: f.case.disease.type == "T-ALL",
            ),
            Feature("Facial nerve involved (the most common nerve)", 0.3, S_FACIAL, lambda f: f.has("CN7")),
            Feature(
                "At diagnosis or relapse",
                0.5,
                S_INGRAM,
                lambda f: f.case.disease.phase in ("diagnosis", "relapse"),
            ),
            Feature(
                "Leptomeningeal enhancement",
                1.0,
                S_LEPTO,
                lambda f: f.case.imaging.leptomeningeal_enhancement is True,
            ),
            Feature("Blasts in the CSF on cytospin", 2.5, S_CYTO, lambda f: f.csf_blasts),
            Feature(
                "CSF flow cytometry positive", 2.0, S_FLOW, lambda f: f.case.csf.flow_cytometry == "positive"
            ),
            Feature("CSF WBC ≥5/µL", 0.5, S_CYTO, lambda f: (f.case.csf.wbc_per_ul or 0) >= 5),
            Feature("Nerve thickening or enhancement on MRI", 0.5, S_RADCR, lambda f: f.mri_abnormal),
            Feature(
                "CSF cytology negative (weak: sensitivity <50%)",
                -0.3,
                S_CYTO,
                lambda f: f.case.csf.blasts is False,
            ),
            Feature(
                "CSF flow cytometry negative", -0.7, S_FLOW, lambda f: f.case.csf.flow_cytometry == "negative"
            ),
            Feature(
                "MRI without nerve findings (weak: MRI sensitivity in leukemia 20–49%)",
                -0.5,
                S_MRI,
                lambda f: f.mri_normal,
            ),
            Feature(
                "A single nerve on one side", -0.5, S_RADCR, lambda f: f.unilateral and not f.multiple_nerves
            ),
            Feature("Vesicles (suggest zoster)", -0.5, S_VZV, lambda f: f.case.exam.vesicles is True),
            Feature(
                "CSF PCR positive for VZV or HSV",
                -1.0,
                S_VZV,
                lambda f: "positive" in (f.case.csf.pcr.VZV, f.case.csf.pcr.HSV),
            ),
        ),
        (
            "Repeat the lumbar puncture with a larger volume (≥5–10 mL), processed within 30 minutes, with "
            "cytospin and flow cytometry",
            "Contrast MRI of the whole neuraxis (brain and spine) if not done",
            "Exclude the mimics below before treating the finding as CNS leukemia",
        ),
        (S_RADCR, S_CYTO, S_FLOW, S_MRI),
        ("csf.blasts", "csf.flow_cytometry", "imaging.nerve_findings", "imaging.leptomeningeal_enhancement"),
    ),
    Entity(
        "neurolymphomatosis",
        "Neurolymphomatosis",
        -1.0,
        (
            Feature("Lymphoma", 1.0, S_GRISARIU, lambda f: f.case.disease.type == "lymphoma"),
            Feature("Painful neuropathy", 1.0, S_GRISARIU, lambda f: f.case.exam.pain is True),
            Feature("FDG-PET-avid nerves", 1.5, S_GRISARIU, lambda f: f.pet_avid),
            Feature(
                "Several nerves involved (58% multiple sites)", 0.5, S_GRISARIU, lambda f: f.multiple_nerves
            ),
            Feature(
                "Limb weakness (peripheral nerves or roots)",
                0.3,
                S_GRISARIU,
                lambda f: f.case.exam.limb_weakness is True,
            ),
            Feature("No pain", -0.5, S_GRISARIU, lambda f: f.case.exam.pain is False),
            Feature(
                "Nerves not FDG-avid",
                -1.0,
                S_GRISARIU,
                lambda f: f.case.imaging.pet_avid_nerves in (False, []),
            ),
        ),
        ("FDG-PET/CT of the nerves", "Nerve biopsy where accessible (diagnostic in 88%)"),
        (S_GRISARIU,),
        ("exam.pain", "imaging.pet_avid_nerves"),
    ),
    Entity(
        "myeloid_sarcoma",
        "Myeloid sarcoma (chloroma)",
        -1.5,
        (
            Feature("AML", 1.5, S_MYELOID, lambda f: f.case.disease.type == "AML"),
            Feature("Intracranial mass", 2.0, S_MYELOID, lambda f: f.case.imaging.intracranial_mass is True),
            Feature(
                "No mass on imaging", -1.0, S_MYELOID, lambda f: f.case.imaging.intracranial_mass is False
            ),
            Feature(
                "Lymphoblastic leukemia, not AML",
                -1.0,
                S_MYELOID,
                lambda f: f.case.disease.type in ("B-ALL", "T-ALL"),
            ),
        ),
        ("Diffusion-weighted imaging of the mass", "Biopsy where accessible"),
        (S_MYELOID,),
        ("imaging.intracranial_mass", "disease.type"),
    ),
    Entity(
        "vzv_reactivation",
        "Varicella-zoster reactivation (Ramsay Hunt and cranial polyneuritis)",
        -0.5,
        (
            Feature("Vesicles", 2.5, S_VZV, lambda f: f.case.exam.vesicles is True),
            Feature("CSF VZV PCR positive", 3.0, S_VZV, lambda f: f.case.csf.pcr.VZV == "positive"),
            Feature("Otalgia", 1.0, S_VZV, lambda f: f.case.exam.otalgia is True),
            Feature("Pain", 0.5, S_VZV, lambda f: f.case.exam.pain is True),
            Feature("One side only", 1.0, S_VZV, lambda f: f.unilateral),
            Feature(
                "Facial and vestibulocochlear nerves together on one side",
                0.7,
                S_VZV,
                lambda f: any({f"CN7-{s}", f"CN8-{s}"} <= f.involved for s in ("left", "right")),
            ),
            Feature("CSF pleocytosis without blasts", 0.3, S_VZV, lambda f: f.pleocytosis_without_blasts),
            Feature("Both sides involved (VZV is unilateral)", -1.5, S_VZV, lambda f: f.bilateral),
            Feature("CSF VZV PCR negative", -1.5, S_VZV, lambda f: f.case.csf.pcr.VZV == "negative"),
            Feature(
                "No vesicles (weak: 30% sine herpete)", -0.3, S_VZV, lambda f: f.case.exam.vesicles is False
            ),
        ),
        ("CSF VZV PCR (and swab of any vesicles)", "Contrast 3D-FLAIR for CN VIII or IAC-wall enhancement"),
        (S_VZV,),
        ("exam.vesicles", "exam.otalgia", "csf.pcr.VZV"),
    ),
    Entity(
        "hsv_infection",
        "Herpes simplex infection",
        -1.5,
        (
            Feature("CSF HSV PCR positive", 3.0, S_HSV, lambda f: f.case.csf.pcr.HSV == "positive"),
            Feature("Fever", 0.5, S_HSV, lambda f: f.case.exam.fever is True),
            Feature(
                "A single facial nerve on one side",
                0.5,
                S_HSV,
                lambda f: f.involved in ({"CN7-left"}, {"CN7-right"}),
            ),
            Feature("CSF pleocytosis without blasts", 0.3, S_HSV, lambda f: f.pleocytosis_without_blasts),
            Feature("CSF HSV PCR negative", -1.5, S_HSV, lambda f: f.case.csf.pcr.HSV == "negative"),
            Feature("Both sides involved", -0.5, S_HSV, lambda f: f.bilateral),
        ),
        ("CSF HSV PCR",),
        (S_HSV,),
        ("csf.pcr.HSV",),
    ),
    Entity(
        "invasive_fungal_infection",
        "Invasive fungal infection with perineural spread (e.g. mucormycosis, aspergillosis)",
        -1.0,
        (
            Feature("Neutropenia (ANC <500/µL)", 1.0, S_FUNGAL, lambda f: f.neutropenic),
            Feature(
                "Sinus disease on imaging", 1.5, S_FUNGAL, lambda f: f.case.imaging.sinus_disease is True
            ),
            Feature("Sinus symptoms", 0.8, S_FUNGAL, lambda f: f.case.exam.sinus_symptoms is True),
            Feature(
                "Cavernous sinus involvement",
                1.0,
                S_FUNGAL,
                lambda f: f.case.imaging.cavernous_sinus_involvement is True,
            ),
            Feature("Trigeminal or facial nerve involved", 0.3, S_FUNGAL, lambda f: f.has("CN5", "CN7")),
            Feature("Fever", 0.5, S_FUNGAL, lambda f: f.case.exam.fever is True),
            Feature(
                "No sinus disease on imaging", -1.0, S_FUNGAL, lambda f: f.case.imaging.sinus_disease is False
            ),
            Feature(
                "Neutrophils ≥500/µL",
                -0.5,
                S_FUNGAL,
                lambda f: f.case.blood.anc_per_ul is not None and f.case.blood.anc_per_ul >= 500,
            ),
        ),
        (
            "CT of the paranasal sinuses and ENT endoscopy ('black turbinate')",
            "Biopsy and culture of any sinus lesion",
        ),
        (S_FUNGAL,),
        ("imaging.sinus_disease", "blood.anc_per_ul", "exam.sinus_symptoms"),
    ),
    Entity(
        "guillain_barre",
        "Guillain-Barré syndrome / facial diplegia with paresthesias",
        -1.0,
        (
            Feature("Areflexia", 1.5, S_GBS, lambda f: f.case.exam.areflexia is True),
            Feature("Limb weakness", 1.0, S_GBS, lambda f: f.case.exam.limb_weakness is True),
            Feature(
                "Albuminocytologic dissociation (protein >45 mg/dL, WBC <10/µL)",
                1.5,
                S_GBS,
                lambda f: f.albuminocytologic,
            ),
            Feature(
                "Facial palsy on both sides (facial diplegia)", 0.7, S_GBS, lambda f: f.both_sides("CN7")
            ),
            Feature("Reflexes preserved", -1.0, S_GBS, lambda f: f.case.exam.areflexia is False),
            Feature("Blasts in the CSF", -1.0, S_GBS, lambda f: f.csf_blasts),
            Feature("CSF WBC ≥50/µL", -1.0, S_GBS, lambda f: (f.case.csf.wbc_per_ul or 0) >= 50),
        ),
        ("Nerve conduction studies", "Contrast MRI of the spine for cauda equina root enhancement"),
        (S_GBS,),
        ("exam.areflexia", "exam.limb_weakness", "csf.protein_mg_dl"),
    ),
    Entity(
        "vincristine_neurotoxicity",
        "Vincristine neurotoxicity (cranial neuropathy)",
        -0.5,
        (
            Feature(
                "Vincristine within the last 6 weeks",
                2.0,
                S_VCR,
                lambda f: f.drug_within(0, 42, "vincristine"),
            ),
            Feature(
                "Vincristine 6–13 weeks ago", 1.0, S_VCR, lambda f: f.drug_within(42.001, 90, "vincristine")
            ),
            Feature(
                "Vincristine given (timing not recorded)",
                1.0,
                S_VCR,
                lambda f: f.drug_days("vincristine") == math.inf,
            ),
            Feature("Ptosis", 1.2, S_VCR, lambda f: f.case.exam.ptosis is True),
            Feature("Hoarseness (vocal-cord palsy)", 0.8, S_VCR, lambda f: f.case.exam.hoarseness is True),
            Feature(
                "Oculomotor, abducens or facial nerve involved",
                0.3,
                S_VCR,
                lambda f: f.has("CN3", "CN6", "CN7"),
            ),
            Feature(
                "MRI without nerve findings (usual in vincristine toxicity)",
                1.0,
                S_VCR,
                lambda f: f.mri_normal,
            ),
            Feature("CSF without blasts and <5 WBC/µL", 0.5, S_VCR, lambda f: f.csf_quiet),
            Feature(
                "No vincristine on the medication list", -3.0, S_VCR, lambda f: f.drug_absent("vincristine")
            ),
            Feature(
                "Last vincristine more than 6 months ago",
                -1.5,
                S_VCR,
                lambda f: f.drug_within(180, 1e9, "vincristine"),
            ),
            Feature(
                "Nerve thickening or enhancement on MRI (rare with vincristine)",
                -0.8,
                S_VCR,
                lambda f: f.mri_abnormal,
            ),
            Feature("Blasts in the CSF", -0.5, S_VCR, lambda f: f.csf_blasts),
        ),
        (
            "Review vincristine dose and timing with the treating team (the neuropathy is reversible "
            "when the drug is stopped)",
            "Nerve conduction studies",
        ),
        (S_VCR,),
        ("medications", "exam.ptosis", "imaging.nerve_findings"),
    ),
    Entity(
        "nelarabine_neurotoxicity",
        "Nelarabine neurotoxicity",
        -0.5,
        (
            Feature("Nelarabine 8–58 days ago", 2.5, S_NEL, lambda f: f.drug_within(8, 58, "nelarabine")),
            Feature(
                "Nelarabine given outside 8–58 days or timing not recorded",
                0.5,
                S_NEL,
                lambda f: f.drug_given("nelarabine") and not f.drug_within(8, 58, "nelarabine"),
            ),
            Feature(
                "T-ALL (nelarabine is a T-ALL drug)",
                0.3,
                S_NEL,
                lambda f: f.case.disease.type == "T-ALL" and f.drug_given("nelarabine"),
            ),
            Feature(
                "Limb weakness or areflexia (GBS-like syndrome)",
                0.8,
                S_NEL,
                lambda f: f.case.exam.limb_weakness is True or f.case.exam.areflexia is True,
            ),
            Feature(
                "White-matter lesions (leukoencephalopathy)",
                0.7,
                S_NEL,
                lambda f: f.case.imaging.white_matter_lesions is True,
            ),
            Feature("CSF without blasts and <5 WBC/µL", 0.3, S_NEL, lambda f: f.csf_quiet),
            Feature(
                "No nelarabine on the medication list", -3.0, S_NEL, lambda f: f.drug_absent("nelarabine")
            ),
        ),
        (
            "Review nelarabine timing (onset 8–58 days after a dose)",
            "Nerve conduction studies",
            "MRI of the spine",
        ),
        (S_NEL,),
        ("medications",),
    ),
    Entity(
        "methotrexate_neurotoxicity",
        "Methotrexate neurotoxicity",
        -0.5,
        (
            Feature(
                "Methotrexate (intrathecal or high-dose) within 21 days",
                1.5,
                S_MTX,
                lambda f: f.drug_within(0, 21, "methotrexate", "intrathecal_methotrexate"),
            ),
            Feature(
                "White-matter or DWI lesions",
                1.5,
                S_MTX,
                lambda f: f.case.imaging.white_matter_lesions is True,
            ),
            Feature(
                "Cranial nerve enhancement (not a methotrexate pattern)",
                -1.0,
                S_MTX,
                lambda f: f.mri_abnormal,
            ),
            Feature(
                "No methotrexate on the medication list",
                -3.0,
                S_MTX,
                lambda f: f.drug_absent("methotrexate", "intrathecal_methotrexate"),
            ),
        ),
        ("Diffusion-weighted MRI for white-matter lesions", "Review methotrexate timing and levels"),
        (S_MTX,),
        ("medications", "imaging.white_matter_lesions"),
    ),
    Entity(
        "radiation_injury",
        "Radiation-induced cranial neuropathy",
        -1.0,
        (
            Feature(
                "Cranial radiotherapy 3 months or more ago",
                2.0,
                S_RT,
                lambda f: f.drug_within(90, 1e9, "cranial_radiotherapy"),
            ),
            Feature(
                "Lower cranial (bulbar) nerves after radiotherapy",
                0.5,
                S_RT,
                lambda f: f.drug_given("cranial_radiotherapy") and f.has("CN9", "CN10", "CN12"),
            ),
            Feature(
                "Radiotherapy less than 3 months ago (too early)",
                -0.5,
                S_RT,
                lambda f: f.drug_within(0, 89.999, "cranial_radiotherapy"),
            ),
            Feature(
                "Nerve thickening or enhancement (radiation gives atrophy)",
                -0.5,
                S_RT,
                lambda f: f.mri_abnormal,
            ),
            Feature(
                "No cranial radiotherapy on the medication list",
                -3.0,
                S_RT,
                lambda f: f.drug_absent("cranial_radiotherapy"),
            ),
        ),
        ("Review radiotherapy fields, dose and dates",),
        (S_RT,),
        ("medications",),
    ),
    Entity(
        "bell_palsy",
        "Idiopathic facial palsy (Bell's palsy), a diagnosis of exclusion here",
        -1.0,
        (
            Feature(
                "Only the facial nerve, on one side",
                1.5,
                S_BELL,
                lambda f: f.involved in ({"CN7-left"}, {"CN7-right"}),
            ),
            Feature("Both sides (bilateral palsy is rarely idiopathic)", -2.0, S_BELL, lambda f: f.bilateral),
            Feature("Other cranial nerves involved", -1.5, S_BELL, lambda f: f.multiple_nerves),
            Feature(
                "Facial nerve not involved", -3.0, S_BELL, lambda f: bool(f.involved) and not f.has("CN7")
            ),
            Feature("Blasts in the CSF", -1.0, S_BELL, lambda f: f.csf_blasts),
            Feature("Vesicles (suggest zoster)", -1.0, S_BELL, lambda f: f.case.exam.vesicles is True),
        ),
        ("Exclude leukemic, infectious and drug causes first (lumbar puncture, PCR, medication review)",),
        (S_BELL,),
        ("exam.cranial_nerve_palsies",),
    ),
    Entity(
        "sarcoidosis",
        "Neurosarcoidosis",
        -2.0,
        (
            Feature(
                "Facial palsy on both sides (15–25% in neurosarcoidosis)",
                0.7,
                S_SARC,
                lambda f: f.both_sides("CN7"),
            ),
            Feature("CSF protein >100 mg/dL", 0.5, S_SARC, lambda f: (f.case.csf.protein_mg_dl or 0) > 100),
            Feature(
                "Leptomeningeal enhancement",
                0.5,
                S_SARC,
                lambda f: f.case.imaging.leptomeningeal_enhancement is True,
            ),
            Feature("Blasts in the CSF", -1.5, S_SARC, lambda f: f.csf_blasts),
        ),
        ("Chest imaging for hilar lymph nodes", "Serum and CSF ACE"),
        (S_SARC,),
        ("csf.protein_mg_dl",),
    ),
    Entity(
        "lyme",
        "Lyme neuroborreliosis",
        -2.0,
        (
            Feature(
                "Facial nerve involved (≈95% of Lyme cranial palsies)", 0.5, S_LYME, lambda f: f.has("CN7")
            ),
            Feature("Facial palsy on both sides", 0.5, S_LYME, lambda f: f.both_sides("CN7")),
            Feature("CSF pleocytosis without blasts", 0.5, S_LYME, lambda f: f.pleocytosis_without_blasts),
            Feature("Blasts in the CSF", -1.5, S_LYME, lambda f: f.csf_blasts),
        ),
        (
            "Ask about tick exposure in an endemic area",
            "Serum and CSF Borrelia antibodies with antibody index",
        ),
        (S_LYME,),
        ("csf.wbc_per_ul",),
    ),
)

DIAGNOSES: tuple[str, ...] = tuple(entity.id for entity in ENTITIES)

_FIELD_GETTERS: dict[str, Callable[[ClinicalCase], Any]] = {
    "csf.blasts": lambda c: c.csf.blasts,
    "csf.flow_cytometry": lambda c: c.csf.flow_cytometry if c.csf.flow_cytometry != "not_done" else None,
    "csf.wbc_per_ul": lambda c: c.csf.wbc_per_ul,
    "csf.protein_mg_dl": lambda c: c.csf.protein_mg_dl,
    "csf.pcr.VZV": lambda c: c.csf.pcr.VZV if c.csf.pcr.VZV != "not_done" else None,
    "csf.pcr.HSV": lambda c: c.csf.pcr.HSV if c.csf.pcr.HSV != "not_done" else None,
    "imaging.nerve_findings": lambda c: c.imaging.nerve_findings,
    "imaging.leptomeningeal_enhancement": lambda c: c.imaging.leptomeningeal_enhancement,
    "imaging.intracranial_mass": lambda c: c.imaging.intracranial_mass,
    "imaging.pet_avid_nerves": lambda c: c.imaging.pet_avid_nerves,
    "imaging.sinus_disease": lambda c: c.imaging.sinus_disease,
    "imaging.white_matter_lesions": lambda c: c.imaging.white_matter_lesions,
    "exam.pain": lambda c: c.exam.pain,
    "exam.vesicles": lambda c: c.exam.vesicles,
    "exam.otalgia": lambda c: c.exam.otalgia,
    "exam.ptosis": lambda c: c.exam.ptosis,
    "exam.areflexia": lambda c: c.exam.areflexia,
    "exam.limb_weakness": lambda c: c.exam.limb_weakness,
    "exam.sinus_symptoms": lambda c: c.exam.sinus_symptoms,
    "exam.cranial_nerve_palsies": lambda c: c.exam.cranial_nerve_palsies,
    "blood.anc_per_ul": lambda c: c.blood.anc_per_ul,
    "disease.type": lambda c: c.disease.type,
    "medications": lambda c: c.medications,
}


def score_from_points(points: float) -> float:
    """Logistic of the points, clipped to [0.01, 0.95] and rounded to 2 decimals: never certain."""
    return round(min(SCORE_CAP, max(SCORE_FLOOR, 1.0 / (1.0 + math.exp(-points)))), 2)


def _signed(points: float) -> str:
    return f"{points:+.1f}"


def _assess(entity: Entity, facts: Facts, nerve_findings_given: bool) -> dict[str, Any]:
    points = entity.base
    evidence_for: list[str] = []
    against: list[str] = []
    sources = list(entity.sources)
    for feature in entity.features:
        if not feature.present(facts):
            continue
        points += feature.points
        line = f"{feature.text} ({_signed(feature.points)})"
        (evidence_for if feature.points > 0 else against).append(line)
        if feature.source not in sources:
            sources.append(feature.source)
    missing = []
    for path in entity.informative_fields:
        if path == "imaging.nerve_findings" and nerve_findings_given:
            continue
        if _FIELD_GETTERS[path](facts.case) is None:
            missing.append(path)
    return {
        "diagnosis": entity.id,
        "label": entity.label,
        "score": score_from_points(points),
        "points": round(points, 2),
        "base_points": entity.base,
        "for": evidence_for,
        "against": against,
        "next_steps": list(entity.next_steps),
        "missing": missing,
        "sources": sources,
    }


def rank_differential(case: ClinicalCase, nerve_findings: list[str] | None = None) -> list[dict[str, Any]]:
    """All entities, most supported first (ties keep the order of :data:`ENTITIES`).

    Each item is the CONTRACTS.md §4 differential object plus ``points``, ``base_points`` and
    ``missing`` (fields that would inform this entity but were not given).
    """
    facts = make_facts(case, nerve_findings)
    assessed = [_assess(entity, facts, nerve_findings is not None) for entity in ENTITIES]
    order = {entity.id: index for index, entity in enumerate(ENTITIES)}
    return sorted(assessed, key=lambda item: (-item["points"], order[item["diagnosis"]]))


__all__ = [
    "DIAGNOSES",
    "ENTITIES",
    "MEDICATION_ALIASES",
    "SCORE_CAP",
    "Entity",
    "Facts",
    "Feature",
    "canonical_medication",
    "make_facts",
    "rank_differential",
    "score_from_points",
    "unconsidered_medications",
]
