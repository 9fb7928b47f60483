"""``cnmri analyze``: one study, from NIfTI files or a DICOM folder, to findings and a report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from cnmri.errors import InputError

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
        help="DICOM: keep patient name/ID, descriptions as written and file names in the outputs and messages",
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
    p.add_argument("--threads", type=int, default=2, help="threads for registration (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnmri.pipeline import AnalyzeOptions

    options = AnalyzeOptions(
        template=args.template,
        atlas=args.atlas,
        normative=args.normative,
        t1_sequence=args.t1_sequence,
        allow_download=args.allow_download,
        bias_correct=not args.no_bias_correction,
        deformable=not args.affine_only,
        threads=max(1, args.threads),
        report=not args.no_report,
        clinical=args.clinical,
        baseline=args.baseline,
        ciss=args.ciss,
    )
    for role, path in (("--ciss", args.ciss), ("--flair-post", args.flair_post)):
        if path is not None and not path.exists():
            raise InputError(f"{role} {path} does not exist")
    if args.flair_post is not None:
        options.extra_warnings.append("--flair-post was given but is not yet used for measurement")
    if args.clinical is not None:
        from cnmri.assess.clinical import load_case

        load_case(args.clinical)  # a bad case file fails now, before any image work
    if args.study_dir is not None and (args.pre or args.post):
        raise InputError("give either STUDY_DIR (DICOM) or --pre/--post (NIfTI), not both")
    if args.study_dir is None and args.post is None:
        raise InputError("no input: give STUDY_DIR (a DICOM folder) or --post POST.nii.gz (and --pre PRE)")
    if args.identify and args.deidentify:
        raise InputError("--identify and --deidentify contradict each other; choose one")
    from cnmri.io.limits import voxel_limit
    from cnmri.io.outputs import output_folder
    from cnmri.pipeline import analyze_into

    inputs = [args.study_dir, args.pre, args.post, args.clinical, args.ciss, args.flair_post]
    inputs += [args.template, args.atlas, args.normative, args.baseline]
    with (
        voxel_limit(args.max_voxels),
        output_folder(args.out, command="analyze", force=args.force, inputs=inputs) as out,
    ):
        if args.study_dir is None:
            options.extra_writer = _interop({}, args)
            findings = analyze_into(args.pre, args.post, out.path, options)
        else:
            from cnmri.io.dicom import prepare_study

            # The converted images live inside the partial output folder: removed on any failure or signal.
            prepared = prepare_study(
                args.study_dir,
                out.work_dir("dicom"),
                pre_series=args.pre_series,
                post_series=args.post_series,
                identify=args.identify,
                study=args.study,
            )
            options.inputs_meta = dicom_input_records(prepared.inputs, args.deidentify)
            options.study_meta = dicom_study_record(prepared.metadata, args.identify, args.deidentify)
            options.extra_warnings.extend(prepared.warnings)
            options.extra_writer = _interop(prepared.source_files, args)
            options.ciss = prepared.ciss
            for role, info in prepared.inputs.items():
                _log.info(
                    "using %s series %s (%s): %s",
                    role,
                    info.get("series_number"),
                    info.get("series_description"),
                    info.get("why", info.get("reason", "")),
                )
            findings = analyze_into(prepared.pre, prepared.post, out.path, options)
    _print_summary(findings, args.out)
    return 0


def _interop(source_files: dict[str, tuple[Path, ...]], args: argparse.Namespace) -> Any:
    """The DICOM (SR, SEG, key images) and FHIR writer, run inside the atomic output folder (docs/pacs.md)."""
    from cnmri.report.interop import InteropRequest, interop_writer

    request = InteropRequest(
        post_files=source_files.get("post", ()),
        pre_files=source_files.get("pre", ()),
        deidentify=args.deidentify,
        identify=args.identify,
    )
    return interop_writer(request)


def _hashed_uid(uid: str) -> str:
    """A stable replacement UID (2.25 + decimal of a hash): PS3.15 'U' action without a lookup table."""
    import hashlib

    return "2.25." + str(int(hashlib.sha256(f"cnmri:{uid}".encode()).hexdigest()[:30], 16))


def dicom_input_records(inputs: dict[str, dict[str, Any]], deidentify: bool) -> dict[str, dict[str, Any]]:
    """Per-role input records for findings.json: file names only, UIDs replaced when de-identifying."""
    out: dict[str, dict[str, Any]] = {}
    for role, record in inputs.items():
        clean = dict(record)
        clean["file"] = Path(str(record.get("file", f"{role}.nii.gz"))).name
        if deidentify and clean.get("series_instance_uid"):
            clean["series_instance_uid"] = _hashed_uid(str(clean["series_instance_uid"]))
        out[role] = clean
    return out


def dicom_study_record(metadata: dict[str, Any], identify: bool, deidentify: bool) -> dict[str, Any]:
    """Study metadata for the report; patient identifiers only with --identify, no dates with --deidentify."""
    from cnmri.io.dicom.deid import deidentification_record, deidentify_metadata

    record = deidentify_metadata(metadata, identify)
    if deidentify:
        record = _drop_keys(record, ("date", "time", "uid"))
    record["deidentification"] = deidentification_record(identify, deidentify)
    if deidentify:
        record["deidentification"]["also"] = "UIDs replaced by hashed 2.25 UIDs; dates and times removed"
    return record


def _drop_keys(value: dict[str, Any], fragments: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if any(f in key.lower() for f in fragments):
            continue
        out[key] = _drop_keys(item, fragments) if isinstance(item, dict) else item
    return out


def _print_summary(findings: dict[str, Any], out: Path) -> None:
    pattern = findings["pattern"]
    abnormal = ", ".join(pattern["nerves"]) or "none"
    print(f"pattern: {pattern['kind']}; abnormal nerves: {abnormal}", file=sys.stderr)
    for warning in findings.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    report = out / "report.html"
    print(report if report.exists() else out / "findings.json")
