"""The trend page and the merged fleet page in real headless Chromium, built the way a user builds them
(`jetson-hil report trend` / `jetson-hil report merge`, as subprocesses) from summaries of real runs
(selftests/data/report_runs). JETSON_HIL_UPDATE_SCREENSHOTS=1 keeps the screenshots as docs/report-trend.png and
docs/report-merged.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_history import DATA, FAULTY, HEALTHY, _passed, _runs_of
from test_report_run import CHROMIUM, _browse

ROOT = Path(__file__).resolve().parents[2]


def _jetson_hil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetson_hil.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    reports = tmp_path_factory.mktemp("pages") / "reports"
    shutil.copytree(DATA, reports, ignore=shutil.ignore_patterns("README.md"))
    trend = _jetson_hil("report", "trend", str(reports))
    assert trend.returncode == 0, trend.stderr
    merged = reports.parent / "merged"
    run = _jetson_hil(
        "report", "merge", str(reports / _passed(HEALTHY)), str(reports / _runs_of(FAULTY)[-1]),
        "--out", str(merged), "--run-id", "nightly-12",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return {"trend": reports / "trend.html", "merged": merged / "report.html"}


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
@pytest.mark.parametrize("which", ["trend", "merged"])
def test_page_in_headless_chromium(which, pages, tmp_path):
    """Renders offline with its charts or its fleet table and device sections; no console errors."""
    shot = tmp_path / "shot.png"
    dom, console = _browse(pages[which], shot, tmp_path / "chromium")
    if which == "trend":
        expect = [f'id="trend-{HEALTHY}"', f'id="trend-{FAULTY}"', "<svg", 'class="limit"', "embeddings.rate_hz"]
    else:
        expect = ['id="jetson-hil-fleet"', f'id="jetson-hil-device-{HEALTHY}"', f'id="jetson-hil-device-{FAULTY}"',
                  "jetson-hil-bad", "test_embedding_is_a_list_of_finite_numbers_of_the_expected_dim"]  # fmt: skip
    missing = [e for e in expect if e not in dom]
    assert not missing, f"not in the rendered page: {missing}"
    assert not [ln for ln in console if "Uncaught" in ln or ":ERROR:CONSOLE" in ln], console
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("JETSON_HIL_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / f"report-{which}.png")
