"""``OUT/dicom/sc/*.dcm`` + ``OUT/dicom/ko.dcm``: the report's key images for PACS.

Each Secondary Capture holds one panel of report.html, as rendered there: the posterior-fossa overview
first, then the three-plane key images of each abnormal nerve and side. The Key Object Selection titled
"Of Interest" (DCM 113000, the key-image title PACS viewers flag) references them all.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from cnmri.report.dicom_common import MANUFACTURER, SERIES_NUMBER, DicomSource

if TYPE_CHECKING:
    from cnmri.analysis import Analysis


@dataclass(frozen=True)
class KeyImage:
    name: str  # file stem, e.g. "01_overview", "02_CN7-left"
    title: str
    rgb: NDArray[np.uint8]


def _rgb_from_png(png: bytes) -> NDArray[np.uint8]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def report_key_images(analysis: Analysis) -> list[KeyImage]:
    """The overview mosaic and one three-plane figure per abnormal nerve side, as in report.html."""
    from cnmri.report import figures, html

    findings = analysis.findings
    images = html.ReportImages(
        post=analysis.post,
        pre=analysis.pre,
        enhancement=analysis.enhancement,
        labels=analysis.labels,
        label_keys=analysis.label_keys,
        centerlines_mm=analysis.centerlines_mm,
    )
    abnormal = [s for s in findings["segments"] if s.get("abnormal")]
    out = [
        KeyImage(
            "01_overview",
            "cnmri posterior fossa overview",
            _rgb_from_png(
                figures.overview_mosaic_png(
                    analysis.post,
                    analysis.labels,
                    analysis.label_keys,
                    {f"{s['nerve']}-{s['side']}-{s['segment']}" for s in abnormal},
                )
            ),
        )
    ]
    by_key: dict[str, set[int]] = {}
    for value, key in analysis.label_keys.items():
        by_key.setdefault(key, set()).add(int(value))
    vmax = html.enhancement_scale(images)
    for nerve, side in sorted({(str(s["nerve"]), str(s["side"])) for s in abnormal}, key=_nerve_side_order):
        seg = html.most_abnormal_segment(findings, nerve, side)
        if seg is None:
            continue
        key = f"{nerve}-{side}-{seg['segment']}"
        focus = frozenset(by_key.get(key, set()))
        centre = html._centre_of(images, key, focus)  # the report's own centring rule
        if centre is None:
            continue
        context = frozenset(
            v for k, vals in by_key.items() if k.startswith(f"{nerve}-{side}-") and k != key for v in vals
        )
        request = figures.KeyImageRequest(
            title=f"{nerve} ({side}), {seg['segment']} segment",
            center_mm=centre,
            focus_labels=focus,
            context_labels=context,
            fov_mm=html.KEY_FOV_MM,
        )
        png = figures.key_image_png(request, analysis.post, analysis.labels, analysis.enhancement, analysis.pre, vmax)
        out.append(
            KeyImage(f"{len(out) + 1:02d}_{nerve}-{side}", f"cnmri key images {nerve} {side}", _rgb_from_png(png))
        )
    return out


_REPORT_IMG = re.compile(r'<img class="([^"]*)" alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def key_images_from_report(report_html: str) -> list[KeyImage]:
    """The overview and key-image figures embedded in report.html, decoded (empty when none are found).

    Re-using the report's own PNGs makes the SCs exactly what the report shows and saves rendering them
    again (the overview mosaic alone takes seconds).
    """
    overview: list[KeyImage] = []
    keys: list[KeyImage] = []
    for css, alt, data in _REPORT_IMG.findall(report_html):
        text = html_lib.unescape(alt)
        if "mosaic" in css.split() and not overview:
            overview.append(
                KeyImage("01_overview", "cnmri posterior fossa overview", _rgb_from_png(base64.b64decode(data)))
            )
        elif text.startswith("Key images of "):
            title = text.removeprefix("Key images of ").split(":")[0]
            name = f"{len(keys) + 2:02d}_" + "".join(c if c.isalnum() else "-" for c in title)
            keys.append(KeyImage(name, f"cnmri key images {title}"[:64], _rgb_from_png(base64.b64decode(data))))
    return overview + keys if overview else []


def _nerve_side_order(item: tuple[str, str]) -> tuple[int, str]:
    return (int(item[0][2:]) if item[0][2:].isdigit() else 99, item[1])


def build_secondary_captures(key_images: list[KeyImage], source: DicomSource) -> list[Dataset]:
    series_uid = hd.UID()
    captures: list[Dataset] = []
    for number, image in enumerate(key_images, start=1):
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source.reference,
            pixel_array=image.rgb,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            patient_orientation=("L", "P"),
            series_instance_uid=series_uid,
            series_number=SERIES_NUMBER["sc"],
            sop_instance_uid=hd.UID(),
            instance_number=number,
            manufacturer=MANUFACTURER,
            transfer_syntax_uid=ExplicitVRLittleEndian,
        )
        # A figure of several planes has no single orientation: Patient Orientation is Type 2C, so empty.
        sc["PatientOrientation"].value = None
        sc.Laterality = ""  # Type 2C: the figures show both sides
        sc.SeriesDescription = "cnmri key images"
        sc.ImageComments = image.title[:10240]
        sc.BurnedInAnnotation = "YES"
        captures.append(sc)
    return captures


def build_key_object_selection(captures: list[Dataset], source: DicomSource) -> Dataset:
    content = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.OfInterest,
        referenced_objects=captures,
        description="cnmri key images: overview and abnormal cranial nerves",
    )
    ko = hd.ko.KeyObjectSelectionDocument(
        evidence=captures,
        content=content,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["ko"],
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
    )
    ko.SeriesDescription = "cnmri key images (KO)"
    return ko
