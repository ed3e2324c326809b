"""A suite run struck while it records: the subprocess, the moment its evidence window starts, and what it left.

A run's evidence window starts when its recorders do: the MQTT recorder first, then tegrastats on the device
host, whose log file carries the run's pid (`/tmp/jetson-hil-tegrastats-<pid>-...log`). So "tegrastats of this
run is running on the device" is the condition a test waits for before it strikes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from jetson_hil import junit

ROOT = Path(__file__).resolve().parents[2]
WINDOW_S = 12  # long enough to strike inside it and see a gap; short, so five runs stay within about two minutes
# A hang guard, not a target: an undisturbed run takes about WINDOW_S + 5 s on an idle 2-core machine; a struck one
# may wait out a few of the suite's own bounded waits. Several times that, for a loaded machine.
HANG_GUARD_S = 240
# from the command to its tegrastats on the device (collection, lease, links): seconds when idle, 150 s and more seen
# at load average 40-50 on two cores
START_GUARD_S = 360


def device_namespace(container: str) -> str:
    """The pid namespace of the device host's container (its processes are this machine's, in that namespace)."""
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    return os.readlink(f"/proc/{pid}/ns/pid")


def device_processes(namespace: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process in the device host's pid namespace, read from /proc: no engine call,
    which a busy engine can hold for tens of seconds."""
    rows = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "pid") == namespace:
                rows.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()))
        except OSError:  # ended meanwhile
            continue
    return rows


@dataclass
class Finished:
    """What a struck run left: its exit status, seconds from the strike to its end, output, checks, summary."""

    rc: int
    after_strike_s: float
    output: str
    results: dict[str, junit.Outcome]
    summary: dict

    def outcome(self, name: str) -> junit.Outcome:
        """The check whose test id ends with `name` (`test_embeddings_rate`, `test_gpu_active`, ...)."""
        found = [r for tid, r in self.results.items() if tid.split("::")[-1] == name]
        assert len(found) == 1, f"{name}: {len(found)} checks of that name in {sorted(self.results)}"
        return found[0]

    def failed(self) -> dict[str, str]:
        """Failed or errored checks, by name, with their message's first line."""
        return {tid.split("::")[-1]: (r.message.splitlines() or [""])[0] for tid, r in self.results.items()
                if r.outcome in ("failed", "error")}

    def describe(self) -> str:
        lines = [f"rc {self.rc}, ended {self.after_strike_s:.1f} s after the strike"]
        lines += [f"  disturbance: {d}" for d in self.summary.get("data", {}).get("disturbances", [])]
        lines += [f"  {name}: {first}" for name, first in self.failed().items()]
        lines += sorted({f"  {line}" for r in self.results.values() for line in r.message.splitlines()
                         if line.startswith("During the run")})
        return "\n".join(lines) + "\n--- output tail ---\n" + self.output[-3000:]


class SuiteRun:
    """`pytest -m jetson --device=PROFILE --window WINDOW_S --report-dir DIR` as a subprocess."""

    def __init__(self, sim, profile: Path, report_dir: Path) -> None:
        self.sim = sim
        self.namespace = device_namespace(sim.container)
        self.report_dir = report_dir
        cmd = [sys.executable, "-m", "pytest", "-m", "jetson", "-p", "no:randomly", "-q", "-rfE",
               f"--device={profile}", "--window", str(WINDOW_S), "--report-dir", str(report_dir)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, start_new_session=True)
        self.struck: float | None = None

    def tegrastats_pid(self) -> int | None:
        """The host pid of this run's tegrastats on the device, once it runs."""
        mark = f"jetson-hil-tegrastats-{self.proc.pid}-"
        shells = ("/bin/sh ", "sh ", "/bin/bash ", "bash ")  # the launching shell names the log file too, briefly
        return next((pid for pid, args in device_processes(self.namespace)
                     if mark in args and not args.startswith(shells)), None)

    def wait_for_the_window(self) -> int:
        """Waits until the run records (its tegrastats runs on the device); returns that tegrastats' host pid."""
        deadline = time.monotonic() + START_GUARD_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the suite ended before its evidence window began:\n{self.proc.stdout.read()[-3000:]}")
            pid = self.tegrastats_pid()
            if pid is not None:
                return pid
            time.sleep(0.2)
        self.kill()
        output, _ = self.proc.communicate()
        pytest.fail(f"the suite's tegrastats did not start on the device within {START_GUARD_S} s:\n{output[-3000:]}")

    def strike(self) -> None:
        self.struck = time.monotonic()

    def finish(self) -> Finished:
        """Waits for the run's end (HANG_GUARD_S after the strike at most), then reads its junit and summary."""
        struck = self.struck if self.struck is not None else time.monotonic()
        try:
            output, _ = self.proc.communicate(timeout=max(1.0, struck + HANG_GUARD_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            output, _ = self.proc.communicate()
            pytest.fail(f"the suite hung: still running {HANG_GUARD_S} s after the strike\n{output[-3000:]}")
        took = time.monotonic() - struck
        xml = self.report_dir / "junit.xml"
        results = {r.test_id: r for r in junit.read(xml)} if xml.exists() else {}
        summary_path = self.report_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        return Finished(self.proc.returncode, took, output, results, summary)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


