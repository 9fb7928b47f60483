"""``cnmri analyze``: one study, from NIfTI files or a DICOM folder, to findings and a report.

A thin shell: the study comes from an io adapter (:mod:`cnmri.io.study`), the work from
:func:`cnmri.pipeline.analyze`, the files from the writers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnmri.errors import InputError

if TYPE_CHECKING:
    from cnmri.io.study import Study
    from cnmri.settings import Settings

_log = logging.getLogger("cnmri")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyse one study (NIfTI pre/post, or a DICOM folder)",
        description="Measure every cranial nerve segment on both sides and write findings.json, segments.tsv, "
        "nerves_dseg.nii.gz and report.html into OUT. Give either STUDY_DIR (a DICOM folder) or --post "
        "(and usually --pre) NIfTI files. Without --pre the study is analysed in post-only mode.",
    )
    p.add_argument("study_dir", nargs="?", type=Path, help="a folder of DICOM files (any depth, any names)")
    p.add_argument("--pre", type=Path, help="pre-contrast 3D T1 (NIfTI)")
    p.add_argument("--post", type=Path, help="post-contrast 3D T1 (NIfTI)")
    p.add_argument(
        "--ciss", type=Path, help="3D heavily T2-weighted (CISS/FIESTA): cisternal nerve courses are found in it"
    )
    p.add_argument("--flair-post", type=Path, help="post-contrast FLAIR; recorded, not yet measured")
    p.add_argument("--clinical", type=Path, help="clinical case (YAML/JSON, CONTRACTS §4) to join to the images")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="PREVIOUS_OUT",
        help="an earlier analysis of the same patient (output folder): embed the follow-up comparison",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (written atomically)")
    p.add_argument(
        "--force", action="store_true", help="replace OUT if it holds a previous cnmri output (never an input)"
    )
    p.add_argument("--pre-series", type=int, help="DICOM: series number to use as pre-contrast T1")
    p.add_argument("--post-series", type=int, help="DICOM: series number to use as post-contrast T1")
    p.add_argument("--study", metavar="UID", help="DICOM: StudyInstanceUID (or number) when the folder holds several")
    p.add_argument(
        "--identify",
        action="store_true",
        help="keep patient name/ID, descriptions as written (DICOM) and input file names (NIfTI, DICOM) in the "
        "outputs and messages; without it a NIfTI input is recorded by role and SHA-256 only",
    )
    p.add_argument(
        "--max-voxels",
        type=int,
        default=None,
        metavar="N",
        help="refuse images with more voxels than N (default 600^3 = 216,000,000; see docs/safety.md)",
    )
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="DICOM: outputs meant to leave the machine: also replace UIDs and drop dates (PS3.15 basic profile)",
    )
    p.add_argument("--template", type=Path, help="MNIColin27 T1 to use (else TemplateFlow cache, else Debian)")
    p.add_argument("--allow-download", action="store_true", help="allow TemplateFlow to download the template")
    p.add_argument("--atlas", type=Path, help="nerve atlas JSON to use instead of the shipped one")
    p.add_argument("--normative", type=Path, help="normative reference JSON (from 'cnmri normative build')")
    p.add_argument(
        "--t1-sequence",
        choices=("3d-gre", "3d-tse", "2d-se", "unknown"),
        default="unknown",
        help="post-contrast T1 sequence family; decides whether canalicular CN7 enhancement is physiologic "
        "(it is on 3D gradient echo). Default: from the DICOM headers, else unknown (judged as spin echo)",
    )
    p.add_argument("--no-bias-correction", action="store_true", help="skip N4 bias-field correction")
    p.add_argument("--affine-only", action="store_true", help="skip the deformable skull-base registration")
    p.add_argument("--no-report", action="store_true", help="do not render report.html")
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for registration (default 2; 1 gives bit-identical results on a rerun, ~7 s slower)",
    )
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The frozen settings of ``cnmri analyze`` (written as OUT/settings.json)."""
    from cnmri.settings import Settings

    return Settings(
        template=args.template,
        atlas=args.atlas,
        normative=args.normative,
        t1_sequence=args.t1_sequence,
        allow_download=args.allow_download,
        bias_correct=not args.no_bias_correction,
        deformable=not args.affine_only,
        threads=max(1, args.threads),
        report=not args.no_report,
    )


def _check_inputs(args: argparse.Namespace) -> None:
    """Refuse contradictory or missing inputs before any work (exit 2)."""
    for role, path in (("--ciss", args.ciss), ("--flair-post", args.flair_post)):
        if path is not None and not path.exists():
            raise InputError(f"{role} {path} does not exist")
    if args.clinical is not None:
        from cnmri.assess.clinical import load_case

        load_case(args.clinical)  # a bad case file fails now, before any image work
    if args.study_dir is not None and (args.pre or args.post):
        raise InputError("give either STUDY_DIR (DICOM) or --pre/--post (NIfTI), not both")
    if args.study_dir is None and args.post is None:
        raise InputError("no input: give STUDY_DIR (a DICOM folder) or --post POST.nii.gz (and --pre PRE)")
    if args.identify and args.deidentify:
        raise InputError("--identify and --deidentify contradict each other; choose one")


def build_study(args: argparse.Namespace, work_dir: Path) -> Study:
    """The study of the command line, from the NIfTI or the DICOM adapter (:mod:`cnmri.io.study`)."""
    from cnmri.io.study import dicom_study, nifti_study

    if args.study_dir is None:
        warnings = ("--flair-post was given but is not yet used for measurement",) if args.flair_post else ()
        return nifti_study(
            args.post,
            args.pre,
            ciss=args.ciss,
            clinical=args.clinical,
            baseline=args.baseline,
            identify=args.identify,
            warnings=warnings,
        )
    return dicom_study(
        args.study_dir,
        work_dir,
        pre_series=args.pre_series,
        post_series=args.post_series,
        study_uid=args.study,
        identify=args.identify,
        deidentify=args.deidentify,
        clinical=args.clinical,
        baseline=args.baseline,
    )


def run(args: argparse.Namespace) -> int:
    findings = analyze_to_folder(args)
    _print_summary(findings, args.out)
    return 0


def analyze_to_folder(args: argparse.Namespace) -> dict[str, Any]:
    """What ``cnmri analyze`` does, without printing: study, analysis, outputs; returns the findings."""
    from cnmri.io.limits import voxel_limit
    from cnmri.io.outputs import output_folder
    from cnmri.pipeline import analyze
    from cnmri.report.writers import write_outputs

    settings = settings_from_args(args)
    _check_inputs(args)
    writer = _interop(args)  # a bad FHIR version fails before the analysis
    inputs = [args.study_dir, args.pre, args.post, args.clinical, args.ciss, args.flair_post]
    inputs += [args.template, args.atlas, args.normative, args.baseline]
    with (
        voxel_limit(args.max_voxels),
        output_folder(args.out, command="analyze", force=args.force, inputs=inputs) as out,
    ):
        # DICOM: the converted images live inside the partial output folder: removed on any failure or signal.
        study = build_study(args, out.work_dir("dicom"))
        analysis = analyze(study, settings)
        write_outputs(analysis, out.path, report=settings.report)
        writer(analysis, out.path, study.source_files)
    return analysis.findings


def parse_analyze_args(argv: Sequence[str]) -> argparse.Namespace:
    """``cnmri analyze`` options from a list (the PACS watcher's ``--analyze-option``); exit 2 when bad."""
    parser = argparse.ArgumentParser(prog="cnmri", exit_on_error=False)
    register(parser.add_subparsers(dest="command"))
    try:
        return parser.parse_args(["analyze", *argv])
    except (argparse.ArgumentError, SystemExit) as err:
        raise InputError(f"analyze options {' '.join(argv)!r} are not valid: {err}") from None


def _interop(args: argparse.Namespace) -> Any:
    """The DICOM (SR, SEG, key images) and FHIR writer, run inside the atomic output folder (docs/pacs.md)."""
    from cnmri.report.interop import InteropRequest, interop_writer

    interop_writer(InteropRequest())  # checks the FHIR version now, not after the analysis

    def write(analysis: Any, folder: Path, source_files: Mapping[str, tuple[Path, ...]]) -> None:
        request = InteropRequest(
            post_files=source_files.get("post", ()),
            pre_files=source_files.get("pre", ()),
            deidentify=args.deidentify,
            identify=args.identify,
        )
        interop_writer(request)(analysis, folder)

    return write


def _print_summary(findings: dict[str, Any], out: Path) -> None:
    pattern = findings["pattern"]
    abnormal = ", ".join(pattern["nerves"]) or "none"
    print(f"pattern: {pattern['kind']}; abnormal nerves: {abnormal}", file=sys.stderr)
    for warning in findings.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    report = out / "report.html"
    print(report if report.exists() else out / "findings.json")
