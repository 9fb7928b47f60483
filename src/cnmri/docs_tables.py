"""Write the tables in docs/*.md that are generated from the rule data files.

A generated table lives between two marker lines in a docs file::

    <!-- BEGIN generated: NAME -->
    ...
    <!-- END generated: NAME -->

``python -m cnmri.docs_tables`` rewrites every such region from the data files
(``dicom_vocabulary_v1.yaml``, ``cns_rules_v1.yaml``, ``differential_v2.yaml``);
``python -m cnmri.docs_tables --check`` changes nothing and exits 1 naming each region that is out
of date (the test suite runs the same check). Edit the data file, never the table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnmri.assess.clinical.cns_status import RULES, RULES_FILE, RULES_VERSION
from cnmri.assess.clinical.differential import DATA_FILE as DIFFERENTIAL_FILE
from cnmri.assess.clinical.differential import DIFFERENTIAL
from cnmri.io.dicom.vocabulary import DATA_FILE as VOCABULARY_FILE
from cnmri.io.dicom.vocabulary import vocabulary_spec

#: The source checkout this module belongs to (``src/cnmri/docs_tables.py`` -> the repository root).
DEFAULT_ROOT = Path(__file__).resolve().parents[2]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a ``|`` would end the cell)."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`" if text else "(empty)"


def _codes(items: Sequence[str]) -> str:
    return ", ".join(_code(item) for item in items)


def _number(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------------------- DICOM vocabulary


def dicom_kinds_table() -> str:
    """Every signal of every kind: what it matches and its weight."""
    spec = vocabulary_spec()
    lines = [
        f"From `src/cnmri/data/{VOCABULARY_FILE}` (version {spec.version}). Description tokens match whole",
        "tokens of the normalised SeriesDescription and ProtocolName; SequenceName patterns are regular",
        "expressions searched in the lower-cased SequenceName.",
        "",
        "| kind | signal | weight | matches |",
        "| --- | --- | ---: | --- |",
    ]
    for kind, signals in spec.kinds.items():
        for signal in signals:
            if signal.tokens is not None:
                matches = "description tokens " + _codes(signal.tokens)
            elif signal.regex is not None:
                matches = "description pattern " + _code(signal.regex)
            elif signal.values is not None:
                matches = "ImageType " + _codes(signal.values)
            elif signal.sequence_name is not None:
                matches = "SequenceName " + _code(signal.sequence_name)
            else:
                matches = _cell(signal.rule or "")
            extras = [f"detail {signal.detail}"] if signal.detail else []
            if signal.not_with:
                extras.append("not when the description has " + " or ".join(signal.not_with) + " tokens")
            if signal.note:
                extras.append(signal.note)
            if extras:
                matches += " (" + _cell("; ".join(extras)) + ")"
            weight = "—" if signal.weight is None else _number(signal.weight)
            lines.append(f"| {kind} | `{signal.name}` | {weight} | {matches} |")
    scoring = spec.scoring
    lines += [
        "",
        f"Kind confidence = min({_number(scoring.max_confidence)}, best / (best + "
        f"{_number(scoring.rival_factor)} × second best + {_number(scoring.offset)})). A derived series with "
        f"at least {_number(scoring.derived_wins_at)} points stays derived whatever else it scores.",
    ]
    return "\n".join(lines)


def dicom_contrast_table() -> str:
    """The contrast phrases, the agent names, the 'no agent' values and the confidences."""
    contrast = vocabulary_spec().contrast
    lines = ["| says | pattern | note |", "| --- | --- | --- |"]
    for says, items in (("no contrast", contrast.negative), ("contrast", contrast.positive)):
        for item in items:
            pattern = item.regex if item.regex is not None else "|".join(item.tokens or [])
            form = "pattern" if item.regex is not None else "tokens"
            lines.append(f"| {says} | {form} {_code(pattern)} | {_cell(item.note)} |")
    sure = contrast.confidence
    lines += [
        "",
        f"`{{agents}}` stands for the agent names: {_codes(contrast.agents)}.",
        "",
        "ContrastBolusAgent values that mean no agent was given: " + _codes(contrast.negative_agent_values) + ".",
        "",
        "| contrast attributes | description | confidence |",
        "| --- | --- | ---: |",
        f"| post | post | {_number(sure.tags_post_text_post)} |",
        f"| post | silent or both | {_number(sure.tags_post_text_silent)} |",
        f"| post | pre | {_number(sure.tags_post_text_pre)} (classed post; the reason says they disagree) |",
        f"| pre (agent none) | pre, silent or both | {_number(sure.tags_pre)} |",
        f"| pre (agent none) | post | {_number(sure.tags_pre_text_post)} (classed post) |",
        f"| absent | pre or post | {_number(sure.text_only)} |",
        f"| absent | silent or both | {_number(sure.unknown)} (unknown) |",
    ]
    return "\n".join(lines)


def dicom_t1_variants_table() -> str:
    lines = ["| T1 variant | matched by |", "| --- | --- |"]
    for variant in vocabulary_spec().t1_variants:
        if variant.values is not None:
            how = "ImageType " + _codes(variant.values)
        elif variant.sequence_name is not None:
            how = "SequenceName " + _code(variant.sequence_name)
        elif variant.regex is not None:
            how = "description pattern " + _code(variant.regex)
        else:
            how = "description tokens " + _codes(variant.tokens or [])
        lines.append(f"| {variant.name} | {how} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- clinical rules


def cns_rules_table() -> str:
    lines = [
        f"From `src/cnmri/data/{RULES_FILE}` (version {RULES_VERSION}).",
        "",
        "| id | rule | source | conf. |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{r.id}` | {_cell(r.text)} | {_cell(r.source)} | {r.confidence} |" for r in RULES.values()]
    return "\n".join(lines)


def differential_entities() -> str:
    """One section per entity: base points, the features with points and numbered sources, next steps."""
    sections: list[str] = []
    for entity in DIFFERENTIAL.entities:
        numbers: dict[str, int] = {}
        for source in [feature.source for feature in entity.features] + list(entity.sources):
            numbers.setdefault(source, len(numbers) + 1)
        base = f"Base points {entity.base:+.1f}."
        if entity.leukemic:
            base += " A leukemic cause (it can make a palsy count toward CNS3c)."
        lines = [f"### `{entity.id}`: {entity.label}", "", base, ""]
        if entity.features:
            lines += ["| feature | points | source |", "|---|---|---|"]
            lines += [f"| {_cell(f.text)} | {f.points:+.1f} | [{numbers[f.source]}] |" for f in entity.features]
            lines.append("")
        listed = "; ".join(f"[{number}] {source}" for source, number in numbers.items())
        lines += [f"Sources: {listed}.", "", f"Next steps: {'; '.join(entity.next_steps)}."]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


# ------------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class Region:
    name: str
    doc: str  # path relative to the repository root
    render: Callable[[], str]
    data_file: str


REGIONS: tuple[Region, ...] = (
    Region("dicom-kinds", "docs/dicom.md", dicom_kinds_table, VOCABULARY_FILE),
    Region("dicom-t1-variants", "docs/dicom.md", dicom_t1_variants_table, VOCABULARY_FILE),
    Region("dicom-contrast", "docs/dicom.md", dicom_contrast_table, VOCABULARY_FILE),
    Region("cns-rules", "docs/clinical.md", cns_rules_table, RULES_FILE),
    Region("differential-entities", "docs/clinical.md", differential_entities, DIFFERENTIAL_FILE),
)


class DocsTablesError(Exception):
    """A docs file lacks the markers of a region (or has them twice)."""


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN generated: {re.escape(name)}\b[^\n]*-->\n)(.*?)(<!-- END generated: {re.escape(name)} -->)",
        re.DOTALL,
    )


def render_region(text: str, region: Region) -> str:
    """``text`` with the region's body replaced by the freshly generated table."""
    pattern = _pattern(region.name)
    found = pattern.findall(text)
    if len(found) != 1:
        raise DocsTablesError(
            f"{region.doc}: expected one region '<!-- BEGIN generated: {region.name} -->' ... "
            f"'<!-- END generated: {region.name} -->', found {len(found)}"
        )
    body = region.render().rstrip("\n") + "\n"
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), text)


def stale_regions(root: Path = DEFAULT_ROOT) -> list[str]:
    """``doc: region`` for every region whose text differs from what the data files give."""
    stale = []
    for region in REGIONS:
        text = (root / region.doc).read_text(encoding="utf-8")
        if render_region(text, region) != text:
            stale.append(f"{region.doc}: {region.name} (from {region.data_file})")
    return stale


def write_regions(root: Path = DEFAULT_ROOT) -> list[str]:
    """Rewrite every region; the docs files that changed."""
    changed: list[str] = []
    for doc in dict.fromkeys(region.doc for region in REGIONS):
        path = root / doc
        text = path.read_text(encoding="utf-8")
        new = text
        for region in REGIONS:
            if region.doc == doc:
                new = render_region(new, region)
        if new != text:
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(new, encoding="utf-8")
            temporary.replace(path)  # atomic: a reader never sees half a file
            changed.append(doc)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnmri.docs_tables", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="repository root (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.root / "docs").is_dir():
        print(f"{args.root}: no docs/ folder; run from a source checkout or pass --root", file=sys.stderr)
        return 2
    try:
        if args.check:
            stale = stale_regions(args.root)
            for item in stale:
                print(f"out of date: {item}; run python -m cnmri.docs_tables", file=sys.stderr)
            return 1 if stale else 0
        for doc in write_regions(args.root):
            print(f"wrote {doc}")
    except DocsTablesError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
