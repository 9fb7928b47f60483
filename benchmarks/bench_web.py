"""Speed of ``cnmri serve`` on a results folder of 1,000 studies (issue 13: list page < 1 s, study page
< 2 s to first image).

The 1,000 studies are fabricated from ONE real analysis: each is a folder with its own findings.json
(seeded variations of which nerves are abnormal) and symbolic links to that analysis' images. The server
runs as a user runs it (``cnmri serve`` in its own process). Timings:

- list page: wall time of ``GET /?page=N`` (HTML) and ``GET /api/studies?page=N``, the first request after
  start (cold: folder scan plus 50 findings.json parsed) and repeated ones (warm);
- study page: in Debian's chromium (Playwright), navigation start → NiiVue has loaded and drawn the post
  image with the label overlay (``window.cnmriTimings.firstImageMs``). This machine has no GPU: WebGL runs
  in software (SwiftShader), which a workstation with a GPU does not.

    python benchmarks/bench_web.py [--source DEMO_OUT] [--studies 1000]

Results go to ``benchmarks/results/web_speed.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "bench-token-0123456789abcdef"
IMAGES = ("post.nii.gz", "pre.nii.gz", "enhancement.nii.gz", "nerves_dseg.nii.gz", "nerves_dseg.tsv", "report.html")


def fabricate(source: Path, root: Path, n: int, seed: int = 0) -> None:
    findings = json.loads((source / "findings.json").read_text())
    rng = random.Random(seed)
    for i in range(n):
        folder = root / f"study-{i:04d}"
        folder.mkdir()
        for name in IMAGES:
            if (source / name).exists():
                os.symlink(source / name, folder / name)
        keep = rng.random() < 0.5  # half keep the analysis' abnormal nerves, half are normal
        edited = json.loads(json.dumps(findings))
        if not keep:
            for seg in edited["segments"]:
                seg["abnormal"] = False
            for nerve in edited["nerves"]:
                nerve["abnormal"], nerve["abnormal_segments"] = False, []
            edited["pattern"] = {"kind": "normal", "nerves": []}
        (folder / "findings.json").write_text(json.dumps(edited))


def start_server(results: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CNMRI_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnmri.cli", "serve", "--results", str(results), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split("/?token=")[0]
    return proc, url


def timed_get(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def list_timings(base: str, pages: int, repeats: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        cold = timed_get(client, "/?page=1")
        warm_html = [timed_get(client, f"/?page={p}") for _ in range(repeats) for p in (1, pages // 2, pages)]
        warm_api = [timed_get(client, f"/api/studies?page={p}") for _ in range(repeats) for p in (1, pages // 2, pages)]
        total = client.get("/api/studies").json()["total"]
    return {
        "studies": total,
        "cold_first_page_s": round(cold, 3),
        "html_page_median_s": round(statistics.median(warm_html), 3),
        "html_page_max_s": round(max(warm_html), 3),
        "api_page_median_s": round(statistics.median(warm_api), 3),
        "api_page_max_s": round(max(warm_api), 3),
    }


def study_timings(base: str, repeats: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {TOKEN}"}
    ids = [s["id"] for s in httpx.get(f"{base}/api/studies?page=3", headers=headers).json()["studies"][:repeats]]
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
    ]
    first_image: list[float] = []
    html: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"{base}/?token={TOKEN}")
        for sid in ids:
            page.goto(f"{base}/studies/{sid}", wait_until="commit")
            deadline = time.monotonic() + 300
            timings = None
            while time.monotonic() < deadline and not timings:
                time.sleep(0.2)
                timings = page.evaluate("window.cnmriTimings || null")
            if not timings:
                raise RuntimeError(f"study {sid}: no image after 300 s")
            first_image.append(timings["firstImageMs"] / 1000)
            html.append(page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd") / 1000)
        browser.close()
    return {
        "studies_opened": len(ids),
        "html_received_median_s": round(statistics.median(html), 3),
        "first_image_median_s": round(statistics.median(first_image), 2),
        "first_image_all_s": [round(v, 2) for v in first_image],
        "webgl": "software (SwiftShader), no GPU on this machine",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="an existing 'cnmri demo -o' folder (else the demo is run)")
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        source = args.source
        if source is None:
            source = Path(tmp) / "demo"
            subprocess.run([sys.executable, "-m", "cnmri.cli", "demo", "-o", str(source)], check=True)
        results = Path(tmp) / "results"
        results.mkdir()
        fabricate(source.resolve(), results, args.studies)
        proc, base = start_server(results)
        try:
            listing = list_timings(base, pages=-(-args.studies // 50), repeats=args.repeats)
            study = study_timings(base, args.repeats)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    record = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1min": os.getloadavg()[0]},
        "list": listing,
        "study_page": study,
        "targets": {"list_page_s": 1.0, "study_first_image_s": 2.0},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "web_speed.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# cnmri serve: speed on 1,000 studies",
        "",
        f"{record['date']}, {record['machine']['cpus']} CPUs, load average {record['machine']['load_avg_1min']:.1f} "
        "(machine shared with other jobs).",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| studies in the folder | {listing['studies']} | |",
        f"| list page, first request after start (scan, 50 parsed) | {listing['cold_first_page_s']} s | < 1 s |",
        f"| list page (HTML), median / max | {listing['html_page_median_s']} / {listing['html_page_max_s']} s "
        "| < 1 s |",
        f"| /api/studies page, median / max | {listing['api_page_median_s']} / {listing['api_page_max_s']} s | < 1 s |",
        f"| study page HTML received, median | {study['html_received_median_s']} s | |",
        f"| study page to first image, median | {study['first_image_median_s']} s ({study['webgl']}) | < 2 s |",
        "",
    ]
    (RESULTS / "web_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
