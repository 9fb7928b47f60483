"""Real scanner exports from the dcm2niix validation corpus (tests/data/dicom_qa, see its README):
field maps, volumes inside one series or one enhanced file, raw data next to images, Siemens mosaic,
Philips precise scaling, colour images, GE multi-phase stacks, duplicate instance UIDs, gzipped files,
several studies in one folder, and `cnmri convert`. References are dcm2niix's own NIfTI files."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from cnmri.errors import InputError
from cnmri.io.dicom import convert_series, inspect_study, prepare_study
from cnmri.io.dicom.classify import Contrast, Kind, classify_all, classify_series
from cnmri.io.dicom.convert import convert_stack
from cnmri.io.dicom.discover import SeriesInfo, discover

QA = Path(__file__).resolve().parents[2] / "data" / "dicom_qa"
RunCli = Callable[[Sequence[str]], int]


def _canonical(path: Path, volume: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(str(path))
    data = np.asanyarray(image.dataobj).astype(np.float64)
    if volume is not None and data.ndim == 4:
        data = data[..., volume]
    ornt = nib.orientations.io_orientation(image.affine)
    turned = nib.orientations.apply_orientation(data, ornt)
    affine = image.affine @ nib.orientations.inv_ornt_aff(ornt, data.shape[:3])
    return turned, affine


def _assert_matches_reference(ours: Path, reference: Path, volume: int | None = None, rtol: float = 1e-5) -> None:
    """Same grid in world mm (within 0.01 mm at every corner) and the same voxel values as dcm2niix."""
    our_data, our_affine = _canonical(ours)
    ref_data, ref_affine = _canonical(reference, volume)
    assert our_data.shape == ref_data.shape
    corners = np.array(
        [
            [i, j, k, 1]
            for i in (0, ref_data.shape[0] - 1)
            for j in (0, ref_data.shape[1] - 1)
            for k in (0, ref_data.shape[2] - 1)
        ]
    ).T
    assert np.abs((our_affine @ corners) - (ref_affine @ corners)).max() < 0.01
    np.testing.assert_allclose(our_data, ref_data, rtol=rtol, atol=1e-3 * float(np.abs(ref_data).max()) * rtol)


def _only(folder: Path) -> SeriesInfo:
    images = [s for s in discover(folder).series if s.is_image]
    assert len(images) == 1
    return images[0]


# 1, 9: field maps are field maps, not T1 (nor DWI for "B0 NS")


def test_siemens_field_map_phase_is_a_field_map_not_t1() -> None:
    series = _only(QA / "dcm_qa_xa30" / "9_gre_field_mapping")  # a gzipped enhanced file
    c = classify_series(series)
    assert c.kind is Kind.FIELD_MAP and c.detail == "phase"
    assert any("gre field" in r for r in c.reasons)
    assert c.label == "field map (phase)"


def test_philips_b0_ns_is_a_field_map_split_into_magnitude_and_map(tmp_path: Path) -> None:
    series = _only(QA / "dcm_qa_fmap" / "Philips")
    c = classify_series(series)
    assert c.kind is Kind.FIELD_MAP, c.reasons  # not DWI ("B0") and not T1 (ImageType T1, short TR)
    assert [s.label.split()[0] for s in series.stacks] == ["magnitude", "field"]
    assert [s.n_images for s in series.stacks] == [32, 32]
    out = convert_stack(series.stacks[0], tmp_path / "mag.nii.gz")
    _assert_matches_reference(out.path, QA / "dcm_qa_fmap" / "Ph_801_WIP_B0_NS_e1.ref.nii.gz", rtol=1e-4)


def test_field_map_with_contrast_is_never_a_post_contrast_candidate() -> None:
    series = _only(QA / "dcm_qa_xa30" / "9_gre_field_mapping")
    header = replace(series.header, contrast_agent="Gadovist")
    fake = SeriesInfo(series.study_uid, series.series_uid, [header])
    c = classify_series(fake)
    assert c.kind is Kind.FIELD_MAP and c.contrast is Contrast.POST


# 2: volumes inside one series / one enhanced file


def test_enhanced_field_map_split_by_image_type_and_echo(tmp_path: Path) -> None:
    (series,) = [s for s in discover(QA / "dcm_qa_philips_enh").series if s.number == 2001]
    labels = [s.label for s in series.stacks]
    assert sorted(labels) == ["magnitude TE 2.3", "magnitude TE 4.6", "phase TE 2.3", "phase TE 4.6"]
    assert {s.n_images for s in series.stacks} == {53}
    assert series.main_stack.label.startswith("magnitude")  # a T1 would be converted from its magnitude
    phase = labels.index("phase TE 4.6") + 1
    result = convert_series(QA / "dcm_qa_philips_enh", 2001, tmp_path / "ph.nii.gz", volume=phase)
    assert result.converted.shape[2] == 53 and result.sidecar["SeriesVolumeLabel"] == "phase TE 4.6"


def test_siemens_phase_matches_dcm2niix(tmp_path: Path) -> None:
    series = _only(QA / "dcm_qa_xa30" / "9_gre_field_mapping")
    out = convert_stack(series.stacks[0], tmp_path / "ph.nii.gz")
    _assert_matches_reference(out.path, QA / "dcm_qa_xa30" / "9_gre_field_mapping_e2_ph.ref.nii.gz")


# 3: raw data sharing the series UID


def test_raw_data_does_not_hide_the_image_series(tmp_path: Path) -> None:
    found = discover(QA / "dcm_qa_philips_enh")
    with_1901 = [s for s in found.series if s.number == 1901]
    assert sorted(s.is_image for s in with_1901) == [False, True]
    assert len({s.series_uid for s in with_1901}) == 1  # one SeriesInstanceUID, two objects
    rows = {(s.number, s.is_image): c for s, c in classify_all(found)}
    assert rows[(1901, True)].kind is Kind.PERFUSION
    assert rows[(1901, False)].kind is Kind.NOT_MR
    result = convert_series(QA / "dcm_qa_philips_enh", 1901, tmp_path / "asl.nii.gz", volume=1)
    assert result.converted.shape[2] > 1


# 4: Siemens mosaic


def test_siemens_mosaic_is_unpacked_like_dcm2niix(tmp_path: Path) -> None:
    series = _only(QA / "dcm_qa_stc" / "Siemens_B12")
    out = convert_stack(series.stacks[0], tmp_path / "epi.nii.gz")
    assert out.shape == (64, 64, 35)  # not one 384x384 slice
    _assert_matches_reference(out.path, QA / "dcm_qa_stc" / "Siemens_FMRI_AX_ASC_2.ref.nii.gz", volume=0)


def test_mosaic_without_csa_header_is_refused_not_written_as_one_slice(tmp_path: Path) -> None:
    with gzip.open(QA / "dcm_qa_stc" / "Siemens_B12" / "0001.dcm.gz") as packed:
        ds = pydicom.dcmread(packed)
    for element in [e.tag for e in ds if e.tag.group == 0x0029]:
        del ds[element]  # the CSA image and series headers
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "mosaic.dcm")
    series = _only(tmp_path / "in")
    with pytest.raises(InputError, match="NumberOfImagesInMosaic"):
        convert_stack(series.stacks[0], tmp_path / "out.nii.gz", backend="pydicom")
    assert not (tmp_path / "out.nii.gz").exists()


# 5: Philips precise values


def test_philips_precise_scaling_as_dcm2niix(tmp_path: Path) -> None:
    series = _only(QA / "dcm_qa_philips" / "Magdeburg_2014_fmri")
    assert len(series.stacks) == 3
    out = convert_stack(series.stacks[0], tmp_path / "epi.nii.gz")
    assert out.scaling == "philips_precise"
    _assert_matches_reference(out.path, QA / "dcm_qa_philips" / "EPI_asc_CLEAR_201.ref.nii.gz", volume=0, rtol=1e-4)
    # the display value (RescaleSlope only) is what it is not
    ds = pydicom.dcmread(series.stacks[0].instances[0].path)
    display = float(ds.pixel_array.max()) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert abs(float(nib.load(str(out.path)).get_fdata().max()) - display) > 1000


# 6: colour


def test_rgb_series_is_refused_with_a_message(
    tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = QA / "dcm_qa_xa30" / "14_DWI_dir80_PA_ColFA"
    code = run_cli(["convert", str(folder), "--series", "14", "-o", str(tmp_path / "fa.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "colour (RGB)" in err and "Traceback" not in err
    assert not (tmp_path / "fa.nii.gz").exists()


# 7: GE multi-phase


def test_ge_multiphase_has_no_false_missing_slice_warning(tmp_path: Path) -> None:
    series = _only(QA / "dcm_qa_ge" / "2_fMRI_Multiphase_Des")
    assert series.first.images_in_acquisition == 100  # GE counts all 10 phases
    assert [s.n_images for s in series.stacks] == [10, 10]
    out = convert_stack(series.stacks[0], tmp_path / "p1.nii.gz")
    assert out.shape[2] == 10
    assert not [w for w in out.warnings if "may be missing" in w]


# 8: duplicate SOPInstanceUIDs


def test_duplicate_uids_are_compared_by_pixels(tmp_path: Path) -> None:
    source = sorted((QA / "dcm_qa_philips" / "Magdeburg_2014_fmri").iterdir())[0]
    (tmp_path / "a").mkdir()
    shutil.copy(source, tmp_path / "a" / "slice")
    shutil.copy(source, tmp_path / "a" / "copy_of_slice")
    assert discover(tmp_path / "a").copies_dropped == 1
    (tmp_path / "b").mkdir()
    shutil.copy(source, tmp_path / "b" / "slice")
    ds = pydicom.dcmread(source)
    pixels = ds.pixel_array.copy()
    pixels[10:20, 10:20] += 100
    ds.PixelData = pixels.tobytes()
    ds.save_as(tmp_path / "b" / "edited_same_uid")
    found = discover(tmp_path / "b")
    assert found.copies_dropped == 0 and found.n_instances == 2


# several studies in one folder


def _two_studies(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "two"
    for study in ("first", "second"):
        (root / study).mkdir(parents=True)
    uid = generate_uid(prefix=None)  # 2.25.…: short enough to append ".1"
    for path in sorted((QA / "dcm_qa_philips" / "Magdeburg_2014_fmri").iterdir()):
        shutil.copy(path, root / "first" / path.name)
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = uid
        ds.SeriesInstanceUID = uid + ".1"
        ds.SOPInstanceUID = generate_uid()
        ds.save_as(root / "second" / path.name)
    return root, uid


def test_several_studies_are_listed_and_chosen_by_uid(
    tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    root, uid = _two_studies(tmp_path)
    code = run_cli(["analyze", str(root), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and uid in err and "pass --study UID" in err and "Traceback" not in err
    inventory = inspect_study(root)
    assert len(inventory.studies) == 2 and "--study" in (inventory.selection_error or "")
    assert len(inspect_study(root, study=uid).series) == 1
    with pytest.raises(InputError, match="pass --study UID"):
        prepare_study(root, tmp_path / "work")
    with pytest.raises(InputError, match="no post-contrast T1"):  # the study was chosen; it has no T1
        prepare_study(root, tmp_path / "work", study=uid)


# cnmri convert


def test_convert_command_writes_nifti_and_sidecar(
    tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(QA / "dcm_qa_philips" / "Magdeburg_2014_fmri")
    out = tmp_path / "epi.nii.gz"
    assert run_cli(["convert", folder, "--series", "201", "-o", str(out)]) == 2
    assert "holds 3 volumes" in capsys.readouterr().err and not out.exists()
    assert run_cli(["convert", folder, "--series", "201", "--volume", "2", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    _assert_matches_reference(out, QA / "dcm_qa_philips" / "EPI_asc_CLEAR_201.ref.nii.gz", volume=1, rtol=1e-4)
    sidecar = json.loads((tmp_path / "epi.json").read_text())
    assert sidecar["Manufacturer"].startswith("Philips") and sidecar["SeriesNumber"] == 201
    assert sidecar["IntensityScaling"] == "philips_precise" and sidecar["SeriesVolume"] == 2
    assert 0.001 < sidecar["EchoTime"] < 0.1 and 0.5 < sidecar["RepetitionTime"] < 5  # seconds, as BIDS
    assert not {"PatientName", "PatientID", "InstitutionName", "DeviceSerialNumber"} & set(sidecar)
    assert run_cli(["convert", folder, "--series", "201", "--volume", "2", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert run_cli(["convert", folder, "--series", "201", "--volume", "2", "-o", str(out), "--force"]) == 0
    assert run_cli(["convert", folder, "--series", "7", "-o", str(tmp_path / "x.nii.gz")]) == 2
    assert "image series found: 201" in capsys.readouterr().err


# classification vocabulary, on a real header with the description and parameters of each sequence

_GR = ("GR",)
_IR_GR = ("IR", "GR")


@pytest.mark.parametrize(
    ("description", "scanning", "tr", "te", "ti", "flip", "kind", "detail"),
    [
        ("t1_vibe_fs_tra_post", _GR, 5.0, 2.0, None, 10.0, Kind.T1, "VIBE"),
        ("Sag 3D BRAVO +C", _IR_GR, 8.0, 3.0, 450.0, 12.0, Kind.T1, "BRAVO/FSPGR"),
        ("T1W_3D_THRIVE_gd", _GR, 4.5, 2.2, None, 10.0, Kind.T1, "THRIVE"),
        ("3D-T1-FFE post", _GR, 8.0, 4.0, None, 8.0, Kind.T1, "3D T1-FFE"),
        ("t1_space_sag_post", ("SE",), 700.0, 12.0, None, 120.0, Kind.T1, "SPACE T1"),
        ("CUBE T1 +C", ("SE",), 600.0, 14.0, None, 90.0, Kind.T1, "CUBE T1"),
        ("3D_T1_VISTA_gd", ("SE",), 500.0, 20.0, None, 90.0, Kind.T1, "VISTA T1"),
        ("t1_mprage_sag_p2_iso", _IR_GR, 2300.0, 2.3, 900.0, 8.0, Kind.T1, "MPRAGE"),
        ("t1_mp2rage_sag_UNI_Images", _IR_GR, 5000.0, 2.9, 700.0, 4.0, Kind.T1, "MP2RAGE UNI"),
        ("t1_mp2rage_sag_INV2", _IR_GR, 5000.0, 2.9, 2500.0, 5.0, Kind.T1, "MP2RAGE INV2"),
        ("pcasl_3d", ("GR",), 4600.0, 16.0, None, 180.0, Kind.PERFUSION, "ASL"),
        ("ep2d_perf_dsc", ("EP",), 1500.0, 30.0, None, 90.0, Kind.PERFUSION, "DSC"),
        ("SWI_Images", _GR, 28.0, 20.0, None, 15.0, Kind.SWI, ""),
        ("tof_fl3d_tra_p2_multi-slab", _GR, 22.0, 3.6, None, 18.0, Kind.MRA, ""),
        ("gre_field_mapping", _GR, 500.0, 4.9, None, 60.0, Kind.FIELD_MAP, "magnitude"),
        ("WIP B0 NS", _GR, 3.8, 1.5, None, 12.0, Kind.FIELD_MAP, "magnitude"),
        ("rfMRI_REST_AP", ("EP",), 800.0, 37.0, None, 52.0, Kind.BOLD, ""),
    ],
)
def test_sequence_vocabulary(
    description: str,
    scanning: tuple[str, ...],
    tr: float,
    te: float,
    ti: float | None,
    flip: float,
    kind: Kind,
    detail: str,
) -> None:
    real = _only(QA / "dcm_qa_philips" / "Magdeburg_2014_fmri")
    header = replace(
        real.header,
        series_description=description,
        protocol_name="",
        sequence_name="",
        image_type=("ORIGINAL", "PRIMARY", "M"),
        scanning_sequence=scanning,
        repetition_time=tr,
        echo_time=te,
        inversion_time=ti,
        flip_angle=flip,
        b_value=None,
    )
    c = classify_series(SeriesInfo(real.study_uid, real.series_uid, [header]))
    assert c.kind is kind, c.reasons
    assert c.detail == detail
    assert c.reasons  # the reasons are shown as for every other class
