"""The device lease with real locks: concurrent processes on this machine (local shell, real flock), then the
simulated device through testinfra's docker:// transport, then a whole suite run that finds the device held.

Proves: a second run waits, then fails with one line naming the holder; it gets the lease once the holder
releases it; a lease whose process was killed (same machine) or that stopped renewing (expired) is removed
by the next run; shared leases mix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import testinfra

from fixtures.lease import host_runner
from jetson_hil import lease as L
from jetson_hil import suite_run

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import subprocess, sys
    from jetson_hil import lease as L

    def run(command, timeout):
        p = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    directory, run_id, mode, ttl = sys.argv[1:5]
    held = L.acquire(run, run_id, mode, device="bench", directory=directory, ttl_s=float(ttl), wait_s=5)
    print("held", held.holder.file, flush=True)
    sys.stdin.readline()
    held.release()
    print("released", flush=True)
    """
)


def local(command: str, timeout: float) -> tuple[int, str, str]:
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


class HolderProcess:
    """Another process that takes the lease and keeps it until told to release (or is killed)."""

    def __init__(self, directory: str, run_id: str, mode: str, ttl: float = 60) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, directory, run_id, mode, f"{ttl:g}"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("held"), f"holder did not get the lease: {line!r} {self.proc.stderr.read()}"

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().startswith("released")
        self.proc.wait(10)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        os.kill(self.proc.pid, sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def directory(tmp_path: Path) -> str:
    return str(tmp_path / "lease")


def test_second_run_waits_then_fails_naming_the_holder_then_gets_it_after_release(directory: str) -> None:
    holder = HolderProcess(directory, "run-fixer", L.EXCLUSIVE)
    try:
        started = time.monotonic()
        waits: list[str] = []
        with pytest.raises(L.LeaseBusy) as busy:
            L.acquire(local, "run-reader", L.SHARED, device="bench", directory=directory, wait_s=2,
                      on_wait=waits.append)
        waited = time.monotonic() - started
        line = str(busy.value)
        assert 2 <= waited < 30, waited  # waits its whole wait_s; the upper bound is a hang guard
        assert "\n" not in line
        assert line.startswith(f"device bench is leased exclusive by {L.owner_name()} (run run-fixer, pid "
                               f"{holder.proc.pid}) until ")
        assert "waited 2 s for a shared lease" in line
        assert waits and "held exclusive by" in waits[0]

        releaser = threading.Timer(1.5, holder.release)
        releaser.start()
        started = time.monotonic()
        got = L.acquire(local, "run-reader", L.SHARED, device="bench", directory=directory, wait_s=120)
        waited = time.monotonic() - started
        releaser.join()
        assert 1.0 <= waited < 60, waited  # not before the release; the upper bound is a hang guard
        assert [h.run_id for h in L.holders(local, directory)] == ["run-reader"]
        got.release()
        assert L.holders(local, directory) == []
    finally:
        holder.close()


def test_shared_leases_mix_and_a_killed_holder_is_stale_at_once(directory: str) -> None:
    first = HolderProcess(directory, "run-a", L.SHARED)
    second = HolderProcess(directory, "run-b", L.SHARED)
    try:
        assert sorted(h.run_id for h in L.holders(local, directory)) == ["run-a", "run-b"]
        first.kill()
        second.kill()
        first.close()
        second.close()
        started = time.monotonic()
        got = L.acquire(local, "run-c", L.EXCLUSIVE, device="bench", directory=directory, wait_s=0)
        assert time.monotonic() - started < 60  # a hang guard: with wait_s=0 it never waits
        assert [h.run_id for h in L.holders(local, directory)] == ["run-c"]
        got.release()
    finally:
        first.close()
        second.close()


def test_a_lease_that_stops_renewing_expires(directory: str) -> None:
    """SIGSTOP: the process still exists, so only the expiry can free the device."""
    holder = HolderProcess(directory, "run-frozen", L.EXCLUSIVE, ttl=3)
    try:
        holder.kill(signal.SIGSTOP)
        started = time.monotonic()
        got = L.acquire(local, "run-next", L.EXCLUSIVE, device="bench", directory=directory, wait_s=120, poll_s=0.5)
        waited = time.monotonic() - started
        assert 1 < waited < 60, waited  # it waits for the 3 s ttl to run out; the upper bound is a hang guard
        assert [h.run_id for h in L.holders(local, directory)] == ["run-next"]
        got.release()
    finally:
        holder.kill(signal.SIGCONT)
        holder.close()


def test_renewal_keeps_a_short_lease_alive(directory: str) -> None:
    held = L.acquire(local, "run-long", L.EXCLUSIVE, device="bench", directory=directory, ttl_s=6)
    try:
        time.sleep(8)  # the stimulus: outlive the 6 s ttl
        with pytest.raises(L.LeaseBusy, match="run run-long"):
            L.acquire(local, "run-other", L.SHARED, device="bench", directory=directory, wait_s=0)
        assert not held.lost and not held.renew_errors
    finally:
        held.release()


# ------------------------------------------------------------------------------------- on the simulator


@pytest.fixture
def sim_runner(safety_sim):
    return host_runner(testinfra.get_host(f"docker://{safety_sim.container}"))


def test_two_runs_on_the_simulated_device(sim_runner, safety_sim) -> None:
    """Through the device's own transport: the lease lives on the device host, not on this machine."""
    fixer = L.acquire(sim_runner, "sim-fixer", L.EXCLUSIVE, device=safety_sim.name, wait_s=5)
    try:
        on_device = subprocess.run(
            ["docker", "exec", safety_sim.container, "sh", "-c", f"cat {L.DEFAULT_DIR}/*.lease"],
            capture_output=True, text=True, timeout=30,
        ).stdout
        assert '"run_id":"sim-fixer"' in on_device
        with pytest.raises(L.LeaseBusy, match=f"device {safety_sim.name} is leased exclusive by .* \\(run sim-fixer,"):
            L.acquire(sim_runner, "sim-reader", L.SHARED, device=safety_sim.name, wait_s=1)
    finally:
        fixer.release()
    reader = L.acquire(sim_runner, "sim-reader", L.SHARED, device=safety_sim.name, wait_s=1)
    reader.release()
    assert [h for h in L.holders(sim_runner) if h.run_id.startswith("sim-")] == []


def test_a_suite_run_finds_the_device_held_and_fails_with_one_line(sim_runner, safety_sim, tmp_path: Path) -> None:
    fixer = L.acquire(sim_runner, "remediation-elsewhere", L.EXCLUSIVE, device=safety_sim.name, wait_s=5)
    try:
        run = suite_run.run(
            ["--device", f"sim:{safety_sim.name}", "--lease-wait", "2", "--report-dir", str(tmp_path / "r"),
             "tests/host/test_task1_gpu_diag.py"],
            ROOT, tmp_path / "junit.xml", 300,
        )
    finally:
        fixer.release()
    lines = [line for line in run.output.splitlines() if "is leased exclusive by" in line]
    assert run.rc == pytest.ExitCode.INTERRUPTED, run.describe()
    assert len(lines) == 1, run.output[-3000:]
    assert "run remediation-elsewhere" in lines[0] and "waited 2 s for a shared lease" in lines[0]
    assert "Traceback" not in run.output
    assert not [o for o in run.outcomes if o.outcome == "passed"]


def test_ctrl_c_releases_the_runs_lease(sim_runner, safety_sim, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pytest", "-m", "jetson", "-p", "no:randomly", "-q", f"--device=sim:{safety_sim.name}",
           "--window", "30", "--report-dir", str(tmp_path / "r"), "tests/mqtt"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(h.pid == proc.pid for h in L.holders(sim_runner)):
            assert proc.poll() is None and time.monotonic() < deadline, "the run took no lease"
            time.sleep(0.5)
        time.sleep(2)  # the stimulus: interrupt mid-run
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "KeyboardInterrupt" in output, output[-2000:]
    assert not [h for h in L.holders(sim_runner) if h.pid == proc.pid], "the interrupted run left its lease"
