"""A live fleet run: the shared healthy simulator and a faulty one of our own (nan_embeddings), tested in one
`pytest -m jetson -n 2` run as a user runs it. The report must say which device fails what, each device's
checks must stay on one xdist worker, and each device gets its own summary.json."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from selftest_state import sim_name

from jetson_hil import suite_run

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "selftests" / "report"))
from report_schema import errors  # noqa: E402

FAULTY = sim_name("fleet-faulty")
FAULT = "nan_embeddings"
FAILING = "test_embedding_is_a_list_of_finite_numbers_of_the_expected_dim"
SCHEMA = json.loads((ROOT / "docs" / "summary-schema.json").read_text())


@pytest.fixture(scope="module")
def faulty_sim():
    """The faulty device, started for this module and stopped after it."""
    from jetson_hil.sim import simulator

    cfg = simulator.up(simulator.SimConfig(name=FAULTY, encoder="tiny", rate=5.0, faults=[FAULT]), log=lambda m: None)
    yield cfg
    simulator.down(FAULTY, log=lambda m: None)


@pytest.fixture(scope="module")
def fleet_run(sim, faulty_sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    # -vv: suite_run passes -q, and the worker of each test shows only in verbose output
    args = ["-c", "pyproject.toml", "--rootdir", ".", "-vv", "-n", "2", f"--device=sim:{sim.name}",
            f"--device=sim:{FAULTY}", "--window=6", f"--report-dir={out / 'rep'}"]  # fmt: skip
    run = suite_run.run(args, ROOT, out / "junit.xml", timeout_s=420)
    assert not run.problem, run.describe()
    return sim.name, run, out / "rep"


def test_only_the_faulty_device_fails_and_the_ids_name_the_device(fleet_run):
    healthy, run, _ = fleet_run
    assert run.rc == 1, run.describe()
    ids = [o.test_id for o in run.outcomes]
    mine = {d: sorted(re.sub(rf"\[{d}-?", "[", i) for i in ids if f"[{d}" in i) for d in (healthy, FAULTY)}
    assert mine[healthy] and mine[healthy] == mine[FAULTY], "every check runs once per device"
    failed = list(run.of("failed")) + list(run.of("error"))
    assert failed and all(f"[{FAULTY}" in i for i in failed), run.describe()
    assert any(FAILING in i for i in failed), run.describe()


def test_each_device_stays_on_one_worker(fleet_run):
    healthy, run, _ = fleet_run
    seen: dict[str, set[str]] = {}
    for worker, nodeid in re.findall(r"\[(gw\d+)\][^\n]*?(?:PASSED|FAILED|SKIPPED|ERROR) (\S+)", run.output):
        device = re.search(rf"\[({healthy}|{FAULTY})[\]-]", nodeid)
        if device:
            seen.setdefault(device.group(1), set()).add(worker)
    assert set(seen) == {healthy, FAULTY}, run.output[-3000:]
    assert all(len(w) == 1 for w in seen.values()), f"a device's checks ran on several workers: {seen}"
    assert seen[healthy] != seen[FAULTY], f"two devices on one worker with two workers free: {seen}"


def test_fleet_summary_names_which_device_fails_what(fleet_run):
    healthy, _, rep = fleet_run
    doc = json.loads((rep / "summary.json").read_text())
    assert doc["kind"] == "fleet" and doc["run"]["verdict"] == "failed"
    rows = {r["device"]: r for r in doc["fleet"]}
    assert list(rows) == [healthy, FAULTY]
    assert rows[healthy]["verdict"] == "passed" and rows[healthy]["failed"] == []
    bad = rows[FAULTY]
    assert bad["verdict"] == "failed" and bad["tasks"]["task3"] == "failed" and bad["tasks"]["task1"] == "passed"
    first = next(f for f in bad["failed"] if f["test"].startswith(FAILING))
    assert "not finite numbers" in first["message"]


def test_each_device_has_its_own_summary_and_section(fleet_run):
    healthy, _, rep = fleet_run
    for device, verdict in ((healthy, "passed"), (FAULTY, "failed")):
        folder = rep / "devices" / device
        doc = json.loads((folder / "summary.json").read_text())
        assert errors(doc, SCHEMA) == [], device
        assert doc["run"]["device"] == device and doc["run"]["verdict"] == verdict
        assert doc["tests"] and all(f"[{device}" in t["nodeid"] for t in doc["tests"])
        assert doc["measurements"] and all(f"[{device}" in m["nodeid"] for m in doc["measurements"])
        assert doc["device"]["host"] == f"docker://jetson-sim-{device}"
        assert (folder / "telemetry.json").is_file() and doc["telemetry"]["samples"] > 0
    page = (rep / "report.html").read_text()
    assert 'id="jetson-hil-fleet"' in page
    assert f'id="jetson-hil-device-{healthy}"' in page and f'id="jetson-hil-device-{FAULTY}"' in page


def test_fleet_page_in_headless_chromium(fleet_run, tmp_path):
    """The fleet page renders offline with its table and both device sections; JETSON_HIL_UPDATE_SCREENSHOTS=1
    keeps the screenshot as docs/report-fleet.png."""
    from test_report_run import CHROMIUM, _browse

    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    healthy, _, rep = fleet_run
    shot = tmp_path / "shot.png"
    dom, console = _browse(rep / "report.html", shot, tmp_path / "chromium")
    expect = ['id="jetson-hil-fleet"', f'id="jetson-hil-device-{FAULTY}"', f"{FAILING}[{FAULTY}]"]
    expect.append(f"test_runbook_path_decided[{healthy}]")
    missing = [e for e in expect if e not in dom]
    assert not missing, f"not in the rendered page: {missing}"
    assert not [ln for ln in console if "Uncaught" in ln or ":ERROR:CONSOLE" in ln], console
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("JETSON_HIL_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "report-fleet.png")
