"""Links that fail mid-run, on the `safety` simulator: a device whose SSH server freezes ends the session within
`LIMIT_S` with one line; a broker restarted mid-run is reconnected to and the gap is in the report as evidence.

The freeze is SIGSTOP of the device host's sshd processes (by pid, from `docker top`): TCP connections stay
open and nothing answers, as with a hung device behind a live network. (`docker pause` does the same to the
whole container, but the test engine's cgroup-v1 freezer could leave it neither paused nor running.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

from fixtures.lease import host_runner
from jetson_hil import lease as L
from jetson_hil.sim import simulator

ROOT = Path(__file__).resolve().parents[2]
# The promise: one line about a device timeout (10 s) plus one beat (2 s) after the device stops answering. The
# bound is sized for a loaded 2-core machine (teardown included), about four times that, and still tells a
# session that hangs on a frozen device apart.
LIMIT_S = 60


def _sshd_pids(container: str) -> list[int]:
    out = subprocess.run(["docker", "top", container, "-eo", "pid,comm"], capture_output=True, text=True,
                         timeout=30).stdout
    return [int(line.split()[0]) for line in out.splitlines()[1:] if line.split()[1:] == ["sshd"]]


def _start_suite(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pytest", "-m", "jetson", "-p", "no:randomly", "-q", "-rfEs", *args,
           "--report-dir", str(tmp_path / "report")]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def _wait_for_the_runs_lease(sim, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """The run holds its lease once its tests start: the moment to break something mid-run."""
    runner = host_runner(testinfra.get_host(f"docker://{sim.container}"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the suite ended before it started its tests: {proc.stdout.read()[-2000:]}")
        if any(h.pid == proc.pid for h in L.holders(runner)):
            return
        time.sleep(0.5)
    pytest.fail(f"the suite took no lease within {timeout:g} s")


def test_a_device_that_stops_answering_ends_the_session_in_bounded_time(safety_sim, tmp_path: Path) -> None:
    proc = _start_suite([f"--device={safety_sim.root / 'device-ssh.toml'}", "--window", "20"], tmp_path)
    frozen: list[int] = []
    try:
        _wait_for_the_runs_lease(safety_sim, proc)
        time.sleep(4)  # the stimulus: freeze mid-run, after the heartbeat has answered (its first beat opens the run)
        frozen = _sshd_pids(safety_sim.container)
        assert frozen, "no sshd on the simulated device"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            output, _ = proc.communicate(timeout=LIMIT_S + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        took = time.monotonic() - stopped
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = [line for line in output.splitlines() if "stopped answering" in line]
    print(f"the session ended {took:.1f} s after the device froze: {lines}")
    assert took < LIMIT_S, f"the session took {took:.1f} s to end after the device froze:\n{output[-3000:]}"
    assert len(lines) == 1, output[-3000:]
    assert f"device {safety_sim.name}-ssh stopped answering at " in lines[0]
    assert "fix: check that the device" in lines[0]
    assert "Traceback" not in output and proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]


def test_a_broker_restart_mid_run_is_reconnected_and_reported(safety_sim, tmp_path: Path) -> None:
    proc = _start_suite([f"--device=sim:{safety_sim.name}", "--window", "14", "tests/mqtt"], tmp_path)
    try:
        _wait_for_the_runs_lease(safety_sim, proc)
        time.sleep(2)  # the stimulus: restart the broker mid-run, inside the 14 s evidence window
        subprocess.run(["docker", "restart", "-t", "1", safety_sim.layout().container("mosquitto")], check=True,
                       capture_output=True, timeout=60)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        try:
            simulator.wait_for_embeddings(safety_sim, timeout=60)
        except simulator.SimError:  # agents that gave up reconnecting: start them again for the next test
            simulator.compose(safety_sim, "restart vl_jepa embedding_guard scene policy", timeout=180)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    gaps = summary["data"].get("mqtt_gaps")
    assert gaps, f"no MQTT gap recorded:\n{output[-3000:]}"
    assert summary["data"]["mqtt"]["connects"] >= 2, "the recorder did not reconnect"
    assert all(g["to"] is not None and 0 < g["seconds"] < 60 for g in gaps), gaps  # reconnected; 60: a sanity bound
    measured = [m for m in summary["measurements"] if m["name"] == "mqtt.disconnected_s"]
    assert len(measured) == 1 and measured[0]["value"] == pytest.approx(sum(g["seconds"] for g in gaps), abs=0.01)
    assert "MQTT connection gaps" in [a["name"] for a in summary["attachments"]]
    assert "Traceback" not in output
