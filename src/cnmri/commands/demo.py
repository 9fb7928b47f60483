"""``cnmri demo``: build the seed case and run the whole pipeline on it.

The seed case is the real Colin27 head as the pre-contrast image and a post-contrast image with
thickening and intense enhancement of both facial nerves and both glossopharyngeal nerves, plus the
normal physiologic enhancement every post-contrast scan has (see :mod:`cnmri.phantom`). The clinical data
of the motivating case (``cnmri/data/demo_clinical_case.yaml``) is joined to it, so the report shows the
CNS relapse and status, the differential and the next steps as well.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

_log = logging.getLogger("cnmri")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the built-in demo case (bilateral CN7 and CN9 infiltration) and print the report path",
        description="Builds the demo case from the real Colin27 head (pre-contrast as is; post-contrast with "
        "bilateral facial and glossopharyngeal thickening and enhancement plus normal physiologic "
        "enhancement), analyses it and prints where report.html is.",
    )
    p.add_argument("-o", "--out", type=Path, default=Path("cnmri_demo"), help="output folder (default cnmri_demo)")
    p.add_argument(
        "--force", action="store_true", help="replace OUT if it holds a previous cnmri output (never an input)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the demo case (default 0)")
    p.add_argument("--template", type=Path, help="MNIColin27 T1 to use (else TemplateFlow cache, else Debian)")
    p.set_defaults(func=run)


def demo_clinical_case() -> Path:
    """The clinical case joined to the demo images (the motivating case; nerve findings from the images)."""
    from importlib import resources

    return Path(str(resources.files("cnmri").joinpath("data", "demo_clinical_case.yaml")))


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import output_folder
    from cnmri.io.study import nifti_study
    from cnmri.phantom.generator import demo_spec, generate_case, write_case_files
    from cnmri.pipeline import analyze
    from cnmri.report.writers import write_outputs
    from cnmri.settings import Settings
    from cnmri.templates import load_template

    out: Path = args.out
    with output_folder(out, command="demo", force=args.force, inputs=(args.template,)) as folder:
        tmp = folder.path
        base = load_template(args.template)
        _log.info("building the demo case from the Colin27 head (%s)", base.meta.get("template_origin", ""))
        case = generate_case(demo_spec(), seed=args.seed, base=base)
        inputs = tmp / "inputs"
        write_case_files(case, inputs)
        # The motivating case's clinical data: the demo shows CNS status, relapse, differential and next steps.
        study = nifti_study(inputs / "post.nii.gz", inputs / "pre.nii.gz", clinical=demo_clinical_case())
        analysis = analyze(study, Settings(template=args.template, template_volume=base))
        analysis.record["demo"] = {"truth": "demo case: lesions on CN7 and CN9, both sides", "seed": args.seed}
        write_outputs(analysis, tmp)
    pattern = analysis.findings["pattern"]
    print(
        f"demo: pattern {pattern['kind']}; abnormal nerves: {', '.join(pattern['nerves']) or 'none'}", file=sys.stderr
    )
    print((out / "report.html").resolve())
    return 0
