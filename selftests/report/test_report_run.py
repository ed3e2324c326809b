"""The report of whole runs, in a subprocess as a user runs them: the acceptance suite against the healthy
simulator (`pytest -m jetson --report-dir ... --attach-doc device:...`), and a tiny failing session that
shows how a failure reads (its structured diagnoses in summary.json; on the page, diagnosis first, then its
attachments)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_schema import errors
from selftest_state import sim_name

from jetson_hil.diagnosis import signature
from jetson_hil.profile import load_profile
from jetson_hil.report.doc import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "summary-schema.json").read_text())
FILES = ("report.html", "summary.json", "junit.xml", "telemetry.json", "telemetry.png", "latency.png")
SECTIONS = ("device", "services", "env", "plan", "tasks", "measurements", "plots")
MAX_PAGE_BYTES = 5 * 1024 * 1024


def _pytest(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def healthy_run(sim, tmp_path_factory):
    """One suite run on the healthy shared simulator, its design doc a copy inside the sim's project."""
    profile = load_profile(sim.root / "device.toml")
    original = Path(profile.compose.design_doc_path)
    doc = original.with_name(f"jetson-hil-selftest-{os.getpid()}.md")
    doc.write_bytes(original.read_bytes() + b"\nKeep this paragraph.\n")
    before = doc.read_bytes()
    out = tmp_path_factory.mktemp("healthy") / "rep"
    proc = _pytest(
        "-m", "jetson", "--device", f"sim:{sim.name}", "--report-dir", str(out), "--attach-doc", f"device:{doc}"
    )
    yield out, proc, doc, before
    run_id = json.loads((out / "summary.json").read_text())["run"]["id"] if (out / "summary.json").exists() else ""
    for p in (doc, doc.with_name(doc.name + ".bak"), doc.parent / "reports" / f"{run_id}.html"):
        p.unlink(missing_ok=True)


def test_report_dir_holds_every_file(healthy_run):
    out, proc, _, _ = healthy_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    missing = [f for f in FILES if not (out / f).is_file()]
    assert not missing, f"missing in {out}: {missing}; has {sorted(p.name for p in out.iterdir())}"
    assert len(list(ET.parse(out / "junit.xml").getroot().iter("testcase"))) >= 35


def test_summary_validates_and_tells_the_run(healthy_run):
    out = healthy_run[0]
    doc = json.loads((out / "summary.json").read_text())
    assert errors(doc, SCHEMA) == []
    assert doc["run"]["verdict"] == "passed" and doc["run"]["exit_status"] == 0
    assert {t: v["verdict"] for t, v in doc["tasks"].items()} == {
        **{f"task{i}": "passed" for i in (1, 2, 3, 4, 6)},
        "task5": "skipped",
    }
    assert doc["plan"]["path"].startswith("plan_a")
    assert doc["latency_ms"]["count"] > 0 and doc["measurements"]
    assert doc["device"]["l4t"] and doc["device"]["compute_stack"]["cuda"]
    assert any(c["service"] == "vl_jepa" and c["image_id"].startswith("sha256:") for c in doc["device"]["containers"])
    telemetry = json.loads((out / "telemetry.json").read_text())
    assert len(telemetry["t"]) == doc["telemetry"]["samples"] > 0


def test_page_shows_the_sections_above_the_table(healthy_run):
    page = (healthy_run[0] / "report.html").read_text()
    assert len(page.encode()) < MAX_PAGE_BYTES
    positions = [page.find(f'id="jetson-hil-{s}"') for s in SECTIONS]
    assert -1 not in positions, dict(zip(SECTIONS, positions, strict=True))
    assert max(positions) < page.find('id="results-table"')
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2
    assert "<link" not in page.split("</head>")[0] or "stylesheet" not in page.split("</head>")[0]


def test_design_doc_on_the_device_gets_the_section(healthy_run):
    out, _, doc, before = healthy_run
    after = doc.read_bytes()
    assert after.startswith(before) and after.count(BEGIN.encode()) == 1 and after.count(END.encode()) == 1
    assert doc.with_name(doc.name + ".bak").read_bytes() == before
    text = after.decode()
    assert "| task3 | passed |" in text and "plan_a" in text
    assert "**End state: Plan A, after alignment (passed)**" in text
    run_id = json.loads((out / "summary.json").read_text())["run"]["id"]
    assert f"Report: [reports/{run_id}.html](reports/{run_id}.html)" in text  # relative: the doc carries the report
    copy = doc.parent / "reports" / f"{run_id}.html"
    assert copy.read_bytes() == (out / "report.html").read_bytes()


FAILING = """
from fixtures.evidence import diagnose_for
from jetson_hil.diagnosis import format_hint

LOG = "loading model\\nRuntimeError: CUDA driver version is insufficient for CUDA runtime version"


def test_broken(attach, request):
    attach("container log tail", LOG)
    message = "embeddings computed on cpu"
    found = diagnose_for(request.node, message, LOG, sources=["message", "docker logs vl_jepa"])
    raise AssertionError(message + "\\n" + format_hint(found))


def test_bare_message():
    raise AssertionError("embeddings failed\\nRuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB")


def test_unknown():
    raise AssertionError("the answer is 41")


def test_fine():
    pass
"""


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    """A tiny session (no device) with one failing test that attached a container log tail."""
    tmp_path = tmp_path_factory.mktemp("failing")
    (tmp_path / "test_failing.py").write_text(FAILING)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "reports" / "run1"
    proc = _pytest(
        "-c",
        str(tmp_path / "pytest.ini"),
        "--rootdir",
        str(tmp_path),
        "-p",
        "fixtures.evidence",
        "-p",
        "fixtures.report",
        "--report-dir",
        str(out),
        str(tmp_path / "test_failing.py"),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path, out, proc.stdout


def test_failure_reads_diagnosis_then_attachments(failing_run):
    """summary.json lists each failing test's diagnoses as objects (those the test recorded, else those of its
    message), the terminal still reads "Likely cause ... Fix ...", and the row shows the diagnosis first."""
    tmp_path, out, stdout = failing_run
    assert (tmp_path / "reports" / "latest").resolve() == out.resolve()
    assert {f for f in ("report.html", "summary.json", "junit.xml") if (out / f).is_file()} == {
        "report.html",
        "summary.json",
        "junit.xml",
    }
    doc = json.loads((out / "summary.json").read_text())
    assert errors(doc, SCHEMA) == []
    tests = {t["nodeid"].split("::")[-1]: t for t in doc["tests"]}
    broken = tests["test_broken"]
    assert broken["outcome"] == "failed"
    [d] = broken["diagnoses"]
    driver = signature("cuda_driver_insufficient")
    assert (d["id"], d["cause"], d["fix"]) == (driver.id, driver.cause, driver.fix)
    assert (d["where"], d["line"]) == ("docker logs vl_jepa", 2)
    assert d["evidence"] == "RuntimeError: CUDA driver version is insufficient for CUDA runtime version"
    assert [(x["id"], x["where"], x["line"]) for x in tests["test_bare_message"]["diagnoses"]] == [
        ("cuda_oom", "message", 2)
    ]
    assert tests["test_unknown"]["diagnoses"] == [] and "diagnoses" not in tests["test_fine"]
    assert f"Likely cause: {driver.cause}  Fix: {driver.fix}" in stdout  # the terminal reader's text
    page = (out / "report.html").read_text()
    assert 'id="jetson-hil-failures"' in page
    failures = page[page.find('id="jetson-hil-failures"') : page.find('id="jetson-hil-plan"')]
    assert -1 < failures.find("cuda_driver_insufficient") < failures.find("test_broken")
    assert "docker logs vl_jepa:2: RuntimeError: CUDA driver version is insufficient" in failures
    row = page.find("jetson-hil-failure", page.find('id="results-table"'))
    diagnosis = page.find("jetson-hil-diagnosis", row)
    attachment = page.find("container log tail", row)
    assert -1 < row < diagnosis < attachment, (row, diagnosis, attachment)


FAULTY_SIM = sim_name("report-faulty")
FAULT = "nan_embeddings"


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """Its own simulated device with NaN embeddings (the shared one stays healthy), the MQTT checks run on
    it; the device is stopped after."""
    from jetson_hil.sim import simulator

    cfg = simulator.up(
        simulator.SimConfig(name=FAULTY_SIM, encoder="tiny", rate=5.0, faults=[FAULT]), log=lambda m: None
    )
    try:
        out = tmp_path_factory.mktemp("faulty") / "rep"
        proc = _pytest("-m", "jetson", "--device", f"sim:{cfg.name}", "--report-dir", str(out), "tests/mqtt")
        yield out, proc
    finally:
        simulator.down(FAULTY_SIM, log=lambda m: None)


def test_faulty_device_report_shows_failure_evidence(faulty_run):
    out, proc = faulty_run
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "summary.json").read_text())
    assert errors(doc, SCHEMA) == []
    assert doc["run"]["verdict"] == "failed" and doc["tasks"]["task3"]["verdict"] == "failed"
    failed = [t for t in doc["tests"] if t["outcome"] == "failed"]
    assert any("finite" in t["nodeid"] for t in failed), failed
    # the diagnoses the rig recorded are the ones the assertion text shows a terminal reader, per failing check
    texts = {
        f"{case.get('classname')}.{case.get('name')}": "".join(f.text or "" for f in case.iter("failure"))
        for case in ET.parse(out / "junit.xml").getroot().iter("testcase")
    }
    for t in failed:
        path, name = t["nodeid"].split("::")
        text = texts[f"{path[:-3].replace('/', '.')}.{name}"]
        assert isinstance(t["diagnoses"], list) and text, t
        for d in t["diagnoses"]:
            assert f"Likely cause: {d['cause']}  Fix: {d['fix']}" in text, (d["id"], text[-1500:])
            assert d["where"] in ("message", "evidence", "probe stdout", "probe stderr") or d["where"].startswith(
                "docker logs "
            ), d
    page = (out / "report.html").read_text()
    assert 'id="jetson-hil-failures"' in page
    first = page.find("jetson-hil-failure")
    for evidence in ("log (last ", "last vision/embeddings payload", "check_torch_cuda.py output"):
        assert first < page.find(evidence, first), f"{evidence!r} not shown under the failure"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = {
    "healthy": "docs/report-healthy.png",
    "failure": "docs/report-failure.png",
    "faulty": "docs/report-faulty.png",
}


def _browse(page: Path, shot: Path, profile: Path) -> tuple[str, list[str]]:
    """Opens the page in headless Chromium: (the DOM after its scripts ran, the console lines); saves a screenshot."""
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", "--hide-scrollbars"]
    logs = ["--enable-logging=stderr", "--v=0"]
    shot_run = subprocess.run(
        [*base, *logs, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = subprocess.run([*base, *logs, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    console = [ln for ln in (shot_run.stderr + dom.stderr).splitlines() if "CONSOLE" in ln]
    return dom.stdout, console


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
@pytest.mark.parametrize("which", ["healthy", "failure", "faulty"])
def test_page_in_headless_chromium(which, request, tmp_path):
    """The page renders offline: the sections are in the rendered DOM, the test table was filled by its
    scripts, the console has no errors. JETSON_HIL_UPDATE_SCREENSHOTS=1 keeps the screenshots in docs/."""
    if which == "healthy":
        out = request.getfixturevalue("healthy_run")[0]
        expect = [f'id="jetson-hil-{s}"' for s in SECTIONS] + ["test_runbook_path_decided"]
    elif which == "faulty":
        out = request.getfixturevalue("faulty_run")[0]
        # NaN embeddings match no failure signature (the failing session below shows a diagnosis block)
        expect = ['id="jetson-hil-failures"', "last vision/embeddings payload"]
    else:
        out = request.getfixturevalue("failing_run")[1]
        expect = ['id="jetson-hil-failures"', "jetson-hil-diagnosis", "CUDA driver version is insufficient"]
    shot = tmp_path / "shot.png"
    dom, console = _browse(out / "report.html", shot, tmp_path / "chromium")
    missing = [e for e in expect if e not in dom]
    assert not missing, f"not in the rendered page: {missing}"
    errors_logged = [ln for ln in console if "Uncaught" in ln or "Error" in ln or ":ERROR:CONSOLE" in ln]
    assert not errors_logged, errors_logged
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("JETSON_HIL_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / SCREENSHOTS[which])
