"""A small real-shaped BIDS dataset built from the Colin27 head: controls, a patient with two sessions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cnmri.phantom.bench import downsampled_base
from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, generate_case, write_case

#: participant → (group, {session: lesions})
LAYOUT: dict[str, tuple[str, dict[str, tuple[LesionSpec, ...]]]] = {
    "01": ("control", {"01": ()}),
    "02": (
        "patient",
        {
            "01": (LesionSpec("CN7", "left", None, 0.9, 3.0), LesionSpec("CN7", "right", None, 0.9, 3.0)),
            "02": (LesionSpec("CN7", "left", None, 0.5, 2.5),),
        },
    ),
    "03": ("control", {"01": ()}),
}


def write_bids_dataset(root: Path, cache: Path) -> Path:
    """Write the dataset (images generated once into ``cache`` and copied)."""
    base = None
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "cnmri test cohort", "BIDSVersion": "1.9.0", "DatasetType": "raw"}), encoding="utf-8"
    )
    rows = ["participant_id\tgroup\tage"]
    for i, (participant, (group, sessions)) in enumerate(sorted(LAYOUT.items())):
        rows.append(f"sub-{participant}\t{group}\t{30 + i}")
        for j, (session, lesions) in enumerate(sorted(sessions.items())):
            case_dir = cache / f"{participant}-{session}"
            if not (case_dir / "post.nii.gz").exists():
                base = base if base is not None else downsampled_base(2)
                case = generate_case(PhantomSpec(lesions, realism=Realism(snr=40.0)), seed=10 * i + j, base=base)
                write_case(case, case_dir)
            anat = root / f"sub-{participant}" / f"ses-{session}" / "anat"
            anat.mkdir(parents=True, exist_ok=True)
            prefix = f"sub-{participant}_ses-{session}"
            shutil.copy(case_dir / "pre.nii.gz", anat / f"{prefix}_T1w.nii.gz")
            shutil.copy(case_dir / "post.nii.gz", anat / f"{prefix}_ce-gadolinium_T1w.nii.gz")
    # a participant with no post-contrast T1: skipped with a reason
    anat = root / "sub-04" / "ses-01" / "anat"
    anat.mkdir(parents=True)
    shutil.copy(cache / "01-01" / "pre.nii.gz", anat / "sub-04_ses-01_T1w.nii.gz")
    rows.append("sub-04\tpatient\t50")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def bids_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bids-cases")


@pytest.fixture()
def bids_dataset(tmp_path: Path, bids_cache: Path) -> Path:
    return write_bids_dataset(tmp_path / "rawdata", bids_cache)


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> object:
    """A real PostgreSQL server (Debian's package) on a free loopback port, for the session's tests."""
    import os
    import subprocess
    import tempfile

    bindir = _postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server missing: apt-get install postgresql (.ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="cnmri-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: use Debian's postgres account
        root.chmod(0o755)
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "cnmri", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://cnmri@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
