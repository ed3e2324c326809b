"""Nightly CI: ci/nightly-hil.sh run against the healthy simulator (the commands the workflow runs, not
GitHub), and ci/nightly-hil.yml checked for what it must do (schedule, self-hosted runner, the script,
JUnit published, report and summary uploaded from where the script writes them)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from report_schema import errors

from jetson_hil.report.doc import BEGIN

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "summary-schema.json").read_text())


def _workflow() -> dict:
    return yaml.safe_load((ROOT / "ci" / "nightly-hil.yml").read_text())


def test_workflow_runs_the_script_and_publishes():
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the bare key `on` as True
    assert triggers["schedule"][0]["cron"]
    job = wf["jobs"]["acceptance"]
    assert "self-hosted" in job["runs-on"]
    assert job["env"]["JETSON_HIL_DEVICE"] and job["env"]["JETSON_HIL_ATTACH_DOC"] == "device"
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "ci/nightly-hil.sh" in runs
    report_dir = "reports/${{ env.JETSON_HIL_RUN_ID }}"
    junit = next(s for s in steps if "junit" in s.get("uses", ""))
    assert junit["with"]["report_paths"] == f"{report_dir}/junit.xml" and junit["if"] == "always()"
    uploads = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert f"{report_dir}/" in uploads and f"{report_dir}/summary.json" in uploads


def test_script_against_the_simulator(sim, tmp_path):
    doc = tmp_path / "design.md"
    doc.write_text("# Design\n\nUnchanged text.\n")
    env = {
        **os.environ,
        "JETSON_HIL_DEVICE": f"sim:{sim.name}",
        "JETSON_HIL_RUN_ID": "nightly-7-1",
        "JETSON_HIL_REPORTS": str(tmp_path / "reports"),
        "JETSON_HIL_ATTACH_DOC": str(doc),
        "JETSON_HIL_BOOTSTRAP": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("GITHUB_OUTPUT", None)
    proc = subprocess.run(
        ["ci/nightly-hil.sh", "-q", "tests/host/test_task1_gpu_diag.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    out = tmp_path / "reports" / "nightly-7-1"
    for name in ("report.html", "summary.json", "junit.xml", "telemetry.json"):
        assert (out / name).is_file(), f"{name} missing in {out}: {output[-2000:]}"
    assert (tmp_path / "reports" / "latest").resolve() == out
    summary = json.loads((out / "summary.json").read_text())
    assert errors(summary, SCHEMA) == []
    assert summary["run"]["id"] == "nightly-7-1" and summary["tasks"]["task1"]["verdict"] == "passed"
    assert "jetson-hil nightly-7-1: passed" in output and "task1: passed" in output
    assert f"report: {out}/report.html" in output
    text = doc.read_text()
    assert text.startswith("# Design\n\nUnchanged text.\n") and BEGIN in text and "| task1 | passed |" in text
    assert (tmp_path / "design.md.bak").read_text() == "# Design\n\nUnchanged text.\n"
