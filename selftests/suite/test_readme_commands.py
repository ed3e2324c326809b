"""The README's two commands, in order and then the first again, on one machine: all green, and the last report
is the user's.

Run as a user runs them: `./scripts/run-suite`, then `./scripts/test` (here one selftest module, the one that
once collided with the user's simulator), then `./scripts/run-suite` again. The "user" of this test has a
reports directory of its own (JETSON_HIL_REPORTS) and a simulator of the selftests' own
(`--device sim:st-readme`), so the real user's `reports/` and `sim1` stay untouched, as every selftest's must.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from selftest_state import sim_name

from jetson_hil.sim import simulator

ROOT = Path(__file__).resolve().parents[2]
NAME = sim_name("readme")
# hang guards, not targets: a run-suite is a simulator start (about a minute) plus one run (about 20 s); the
# selftest module about two minutes; each sized several times over for a loaded 2-core machine
RUN_SUITE_TIMEOUT_S = 600
TEST_TIMEOUT_S = 900


def _run(cmd: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _tail(proc: subprocess.CompletedProcess) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])


@pytest.fixture
def user(tmp_path):
    """The user's environment: their own reports directory; the simulator is purged afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JETSON_HIL_SELFTEST", "PYTEST_"))}
    env.update(JETSON_HIL_REPORTS=str(tmp_path / "reports"), JETSON_HIL_META="0")
    env.pop("CI", None)  # the inner selftest module's skips are this test's business, not CI's list
    yield env
    simulator.down(NAME, purge=True, log=lambda m: None)


def test_run_suite_then_test_then_run_suite_all_green(user):
    reports = Path(user["JETSON_HIL_REPORTS"])
    first = _run(["./scripts/run-suite", f"--device=sim:{NAME}"], user, RUN_SUITE_TIMEOUT_S)
    assert first.returncode == 0, "first ./scripts/run-suite:\n" + _tail(first)
    made = simulator.SimConfig.load(NAME)
    assert made is not None and made.encoder != "tiny", "run-suite did not make the user's simulator"

    tests = _run(["./scripts/test", "-p", "no:randomly", "selftests/sim/test_sim_device.py"], user, TEST_TIMEOUT_S)
    assert tests.returncode == 0, "./scripts/test after run-suite:\n" + _tail(tests)
    assert simulator.SimConfig.load(NAME) == made, "./scripts/test changed the simulator run-suite made"

    second = _run(["./scripts/run-suite", f"--device=sim:{NAME}"], user, RUN_SUITE_TIMEOUT_S)
    assert second.returncode == 0, "second ./scripts/run-suite:\n" + _tail(second)

    runs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 2, f"reports/ should hold the user's two runs only, holds {sorted(os.listdir(reports))}"
    assert (reports / "latest").resolve() == runs[-1].resolve(), "reports/latest is not the user's last run"
    for run in runs:
        verdict = json.loads((run / "summary.json").read_text())["run"]["verdict"]
        assert verdict == "passed", f"{run.name}: {verdict}"
