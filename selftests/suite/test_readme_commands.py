"""The README's two commands, in order and then the first again, on one machine: all green, and the last report
is the user's.

Run as a user runs them: `./scripts/run-suite`, then `./scripts/test` (here one selftest module, the one that
once collided with the user's simulator), then `./scripts/run-suite` again. The "user" of this test has a
reports directory of its own (JETSON_HIL_REPORTS) and a simulator of the selftests' own
(`--device sim:st-readme`), so the real user's `reports/` and `sim1` stay untouched, as every selftest's must.
That simulator was made once with the tiny encoder and stopped (`sim up --encoder tiny`, `sim down`), so each
run-suite starts it from its saved settings and stops it after, as on a fresh machine, without the default
encoder's CPU load beside the selftests' other simulators.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
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


def _run(cmd: list[str], env: dict[str, str], timeout: int) -> tuple[int | None, str]:
    """(exit status or None after the hang guard, the output's last lines)."""
    log = Path(env["JETSON_HIL_REPORTS"]).parent / f"{Path(cmd[0]).name}-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # SIGINT first: the run stops its simulators and recorders
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
    return rc, (f"still running after {timeout} s (full output: {log})\n" if rc is None else "") + tail


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
    cli = str(ROOT / ".venv" / "bin" / "jetson-hil")
    for step in (["sim", "up", "--name", NAME, "--encoder", "tiny"], ["sim", "down", "--name", NAME]):
        rc, out = _run([cli, *step], user, RUN_SUITE_TIMEOUT_S)
        assert rc == 0, f"jetson-hil {' '.join(step)}:\n{out}"

    rc, out = _run(["./scripts/run-suite", f"--device=sim:{NAME}"], user, RUN_SUITE_TIMEOUT_S)
    assert rc == 0, f"first ./scripts/run-suite:\n{out}"
    made = simulator.SimConfig.load(NAME)
    assert simulator.status(NAME).get("state") != "up", "run-suite left the simulator it started running"

    rc, out = _run(["./scripts/test", "-p", "no:randomly", "selftests/sim/test_sim_device.py"], user, TEST_TIMEOUT_S)
    assert rc == 0, f"./scripts/test after run-suite:\n{out}"
    assert simulator.SimConfig.load(NAME) == made, "./scripts/test changed the simulator run-suite made"

    rc, out = _run(["./scripts/run-suite", f"--device=sim:{NAME}"], user, RUN_SUITE_TIMEOUT_S)
    assert rc == 0, f"second ./scripts/run-suite:\n{out}"

    runs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 2, f"reports/ should hold the user's two runs only, holds {sorted(os.listdir(reports))}"
    assert (reports / "latest").resolve() == runs[-1].resolve(), "reports/latest is not the user's last run"
    for run in runs:
        verdict = json.loads((run / "summary.json").read_text())["run"]["verdict"]
        assert verdict == "passed", f"{run.name}: {verdict}"
