"""Fleet wiring without devices: test ids per device, the order they run in, device affinity for xdist, and
the fleet summary. Collection only resolves no device, so no simulator is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.fleet import device_scope
from jetson_hil import fleet

ROOT = Path(__file__).resolve().parents[2]
PROFILE = '[device]\nname = "{name}"\nhost = "docker://jetson-sim-{name}"\n'


def _collect(*args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", ".", "-p", "no:randomly", "-m", "jetson",
         "--collect-only", "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.fixture(scope="module")
def ids(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("profiles")
    for name in ("lab-a", "lab-b"):
        (folder / f"{name}.toml").write_text(PROFILE.format(name=name))
    return {
        "one": _collect(f"--device={folder / 'lab-a.toml'}"),
        "two": _collect(f"--device={folder / 'lab-a.toml'}", f"--device={folder / 'lab-b.toml'}"),
    }


def test_one_device_keeps_the_test_ids(ids):
    assert ids["one"] and not any("lab-a" in i for i in ids["one"])
    assert any(i.endswith("test_jetpack_packages_present[cuda]") for i in ids["one"])


def test_every_check_once_per_device_the_device_leading_the_id(ids):
    one, two = ids["one"], ids["two"]
    assert len(two) == 2 * len(one)
    for device in ("lab-a", "lab-b"):
        expected = [i + f"[{device}]" if not i.endswith("]") else i.replace("[", f"[{device}-", 1) for i in one]
        assert sorted(i for i in two if f"[{device}" in i) == sorted(expected)


def test_one_device_runs_whole_before_the_next_in_runbook_order(ids):
    two = ids["two"]
    devices = ["lab-a" if "[lab-a" in i else "lab-b" for i in two]
    assert devices == sorted(devices), "the checks of one device must run together"
    first = [i.split("[")[0] for i in two if "[lab-a" in i]
    assert first == [i.split("[")[0] for i in ids["one"]], "each device keeps the one-device runbook order"


def test_two_names_for_one_device_is_one_clear_error(tmp_path):
    (tmp_path / "a.toml").write_text(PROFILE.format(name="same"))
    (tmp_path / "b.toml").write_text(PROFILE.format(name="same"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", ".", "-m", "jetson", "--collect-only",
         "-q", f"--device={tmp_path / 'a.toml'}", f"--device={tmp_path / 'b.toml'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 4
    assert "device name 'same' is given twice" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_device_scope_groups_by_the_leading_id_part():
    names = ["sim2", "sim2-ssh", "lab"]
    paths = ("tests/",)
    assert device_scope("tests/host/t.py::test_x[sim2]", names, paths) == "sim2"
    assert device_scope("tests/host/t.py::test_x[sim2-cuda]", names, paths) == "sim2"
    assert device_scope("tests/host/t.py::test_x[sim2-ssh-cuda]", names, paths) == "sim2-ssh"
    assert device_scope("tests/host/t.py::test_x[lab]", names, paths) == "lab"
    assert device_scope("tests/host/t.py::test_x[cuda]", names, paths) is None
    assert device_scope("selftests/unit/t.py::test_y", names, paths) is None
    assert device_scope("tests/host/t.py::test_x[cuda]", ["only"], paths) == "only"
    assert device_scope("selftests/unit/t.py::test_y", ["only"], paths) is None


def _device_summary(name: str, outcomes: dict[str, tuple[str, str]]) -> dict:
    tests = [
        {"nodeid": f"tests/t.py::{test}[{name}]", "outcome": outcome, "tasks": [task], "message": "E: why\nmore"}
        for test, (outcome, task) in outcomes.items()
    ]
    from jetson_hil.report.summary import task_verdicts

    verdict = "failed" if any(o in ("failed", "error") for o, _ in outcomes.values()) else "passed"
    return {"run": {"device": name, "verdict": verdict, "worker": "gw1"}, "tasks": task_verdicts(tests), "tests": tests}


def test_fleet_summary_names_which_device_fails_what():
    doc = fleet.build(
        {"id": "r1"},
        {
            "sim1": _device_summary("sim1", {"test_a": ("passed", "task1"), "test_b": ("passed", "task3")}),
            "sim4": _device_summary("sim4", {"test_a": ("passed", "task1"), "test_b": ("failed", "task3")}),
        },
    )
    assert doc["kind"] == "fleet" and doc["run"]["verdict"] == "failed" and doc["run"]["devices"] == ["sim1", "sim4"]
    rows = {r["device"]: r for r in doc["fleet"]}
    assert rows["sim1"]["verdict"] == "passed" and rows["sim1"]["failed"] == []
    assert rows["sim4"]["tasks"]["task3"] == "failed" and rows["sim4"]["tasks"]["task1"] == "passed"
    assert rows["sim4"]["failed"] == [
        {"test": "test_b[sim4]", "nodeid": "tests/t.py::test_b[sim4]", "tasks": ["task3"], "message": "E: why"}
    ]
    assert rows["sim4"]["summary"] == "devices/sim4/summary.json" and rows["sim4"]["worker"] == "gw1"
    assert fleet.failing_lines(doc) == ["sim1: passed", "sim4: failed: task3 (test_b[sim4])"]


def test_fleet_verdict():
    assert fleet.verdict([{"verdict": "passed"}, {"verdict": "not run"}]) == "passed"
    assert fleet.verdict([{"verdict": "not run"}]) == "not run"
    assert fleet.verdict([{"verdict": "passed"}, {"verdict": "failed"}]) == "failed"
