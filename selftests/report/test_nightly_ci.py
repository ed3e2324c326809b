"""Nightly CI: ci/nightly-hil.sh run against the healthy simulator (the commands the workflow runs, not
GitHub), and ci/nightly-hil.yml checked for what it must do (schedule, self-hosted runner, the script,
JUnit published, report and summary uploaded from where the script writes them)."""

from __future__ import annotations

import json
import os
import re
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
    assert wf["env"]["PYTHON"] == "python3.10"  # JetPack 6's Ubuntu 22.04 python
    job = wf["jobs"]["acceptance"]
    assert job["strategy"]["matrix"]["device"] and job["strategy"]["fail-fast"] is False
    assert "self-hosted" in job["runs-on"] and "${{ matrix.device }}" in job["runs-on"]
    assert "matrix.device" in job["concurrency"]["group"]
    assert job["env"]["JETSON_HIL_DEVICE"] == "devices/${{ matrix.device }}.toml"
    assert job["env"]["JETSON_HIL_ATTACH_DOC"] == "device" and job["env"]["JETSON_HIL_INSTALL"] == "runner"
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "ci/nightly-hil.sh" in runs and any("bootstrap.sh --runner-only" in r for r in runs)
    report_dir = "reports/${{ env.JETSON_HIL_RUN_ID }}"
    uploads = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert f"{report_dir}/" in uploads


def test_merge_job_builds_the_fleet_page_from_the_jobs():
    wf = _workflow()
    merge = wf["jobs"]["merge"]
    assert merge["needs"] == "acceptance" and merge["if"] == "always()"
    text = "\n".join(s.get("run", "") for s in merge["steps"])
    assert "bootstrap.sh --runner-only" in text
    assert "jetson-hil report merge jobs/*/" in text and "jetson-hil report summary" in text and "--github" in text
    download = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    upload = next(s for s in wf["jobs"]["acceptance"]["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert download["with"]["pattern"].rstrip("*") == upload["with"]["name"].split("${{")[0]


def test_every_action_is_pinned_by_commit_and_nothing_installs_torch():
    raw = (ROOT / "ci" / "nightly-hil.yml").read_text()
    uses = [s["uses"] for job in _workflow()["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert "torch" not in raw.replace("no torch", "") and "[sim" not in raw and "apt-get" not in raw


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
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
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
    step = (tmp_path / "step-summary.md").read_text()  # what the job's summary page shows
    assert step.startswith("### ✅ jetson-hil nightly-7-1: passed on") and "| task1 | passed |" in step
    assert "**Key figures**" in step and "| tegrastats.unparsed_lines |" in step
    trend = (tmp_path / "reports" / "trend.html").read_text()  # the reports root keeps the trend page
    assert f'id="trend-{summary["run"]["device"]}"' in trend and "<svg" in trend
