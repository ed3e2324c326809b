"""CI reads the figures: a short simulator run's junit.xml carries every measurement as a property of the test that
took it and the device's facts as test-suite properties, and report.html's Environment table describes the device
(fixtures/ci_figures.py)."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from jetson_hil.sim.paths import REPO_DIR

TIMEOUT_S = 600  # a hang guard: Task 3 is one evidence window, about 20 s


def test_junit_carries_the_measurements_and_the_device(sim, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", ".", "-p", "no:randomly", "-q",
         "-m", "jetson and task3", f"--device={sim.root / 'device.toml'}", f"--report-dir={out}"],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert (out / "junit.xml").exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    root = ET.parse(out / "junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")

    by_test: dict[str, dict[str, str]] = {}
    for case in suite.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        by_test[name] = {p.get("name"): p.get("value") for p in case.iterfind("properties/property")}
    measured = summary["measurements"]
    assert measured, "Task 3 records measurements (embeddings count, rate, norms)"
    for m in measured:
        nodeid = m["nodeid"]
        if "::" not in nodeid:
            continue  # the session's own figures (broker gaps) belong to no test
        path, _, test = nodeid.partition("::")
        props = by_test[path.removesuffix(".py").replace("/", ".") + "." + test]
        key = f"measurement.{m['name']}"
        assert props[key] == str(m["value"]) and props[f"{key}.outcome"] == m["outcome"], (nodeid, props)
        if m["unit"]:
            assert props[f"{key}.unit"] == m["unit"]

    suite_props = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    device = summary["device"]
    assert suite_props["device.name"] == sim.name
    assert suite_props["device.l4t"] == device["l4t"] and suite_props["device.jetpack"] == device["jetpack"]
    assert suite_props["device.cuda"] == device["cuda_installed"] and suite_props["device.image"].endswith(":latest")

    blob = re.search(r'data-jsonblob="([^"]*)"', (out / "report.html").read_text()).group(1)
    env = json.loads(html.unescape(blob))["environment"]
    assert list(env)[:2] == ["Device", "Host"] and env["L4T"] == device["l4t"] and "Python" in env["Runner"]
