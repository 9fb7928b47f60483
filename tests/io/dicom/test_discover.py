"""Discovery: any depth, any names, non-DICOM and broken files counted, series and stacks grouped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom.data
from dicom_study_builder import StudyWriter

from cnmri.io.dicom.discover import discover

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def test_messy_siemens_folder_is_grouped_into_its_series(siemens: StudyWriter) -> None:
    found = discover(siemens.root)
    numbers = sorted(s.number for s in found.series if s.number is not None)
    assert numbers == [1, 3, 5, 6, 7, 8, 9]
    assert len(found.non_dicom) == 2  # README.txt and random bytes
    assert len(found.unreadable) == 1 and "truncated" in found.unreadable[0][1]
    assert found.copies_dropped == 1
    by_number = {s.number: s for s in found.series}
    assert len(by_number[5].instances) == 60
    assert [st.n_images for st in by_number[5].stacks] == [60]
    assert sorted(st.label for st in by_number[3].stacks) == ["b 0", "b 1000"]  # one DWI series, two volumes
    assert len(by_number[1].stacks) == 3  # localizer: three planes
    # slices are ordered by position along the normal, not by file name or shuffle order
    depths = [i.position[2] for i in by_number[5].main_stack.instances if i.position]
    assert depths == sorted(depths)


def test_series_are_in_acquisition_order(siemens: StudyWriter) -> None:
    found = discover(siemens.root)
    assert [s.number for s in found.series] == [1, 3, 5, 6, 7, 8, 9]


def test_pydicom_test_files_never_stop_the_walk(tmp_path: Path) -> None:
    for name in (
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_truncated.dcm",
        "rtplan.dcm",
        "no_meta.dcm",
        "rtplan_truncated.dcm",
        "badVR.dcm",
        "test-SR.dcm",
        "zipMR.gz",
    ):
        shutil.copy(PYDICOM_FILES / name, tmp_path / name.replace(".", "_"))
    (tmp_path / "empty").write_bytes(b"")
    found = discover(tmp_path)
    assert found.n_files == 14
    assert "empty" in {p.name for p in found.non_dicom}
    assert "zipMR_gz" not in {p.name for p in found.non_dicom}  # gzipped DICOM is read like any other
    modalities = {s.first.modality for s in found.series}
    assert "MR" in modalities
    # MR_small in 6 transfer syntaxes, gzipped and truncated: one SOP instance, the same pixel values
    assert found.copies_dropped >= 7


def test_dicomdir_sets_are_walked_and_the_index_skipped() -> None:
    found = discover(PYDICOM_FILES / "dicomdirtests")
    assert len(found.dicomdir) >= 1
    assert found.n_instances > 20
    assert not [r for _, r in found.unreadable if "DICOMDIR" in r]


def test_a_single_file_and_an_empty_folder(tmp_path: Path) -> None:
    assert discover(tmp_path).series == []
    single = discover(PYDICOM_FILES / "MR_small.dcm")
    assert len(single.series) == 1 and single.series[0].first.rows == 64
