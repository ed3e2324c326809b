"""The suite's own speed (issue 7): `pytest -m jetson` against the runbook's commands run as a plain script.

Against the same simulator, already up, in one go:

(a) the suite: ``pytest -m jetson --device=<profile>`` in a subprocess (JUnit XML and summary.json read back);
    its checks are the verdicts it gave: each test that ran (passed or failed, not skipped) counts once, plus
    each measurement beyond a test's first (every measurement is a value held to limits); its wall time is
    measured around the subprocess, start-up and report writing included;
(b) the runbook as a shell script, in the runbook's order and with its repetitions (Tasks 1-6): Task 1's
    gpu_diag.sh steps (release, CUDA version, JetPack packages, ``timeout 5s tegrastats``), Task 2's
    ``docker exec vl_jepa_agent python3 check_torch_cuda.py`` and log tail, Task 3's ``timeout 5s
    mosquitto_sub -C 1`` on vision/embeddings and ``timeout 5s tegrastats``, Task 4's "re-run Task 2 and
    Task 3", Task 5's ``mosquitto_sub`` on vision/embeddings, Task 6's ``mosquitto_sub`` on
    progress/understanding and act/result and ``timeout 5s tegrastats``. One command = one check.

Prints both wall times, both check counts and the ratios. Targets: suite time <= 0.6x the script's, with
>= 5x its checks; the suite within the evidence window + 15 s.

Run as root: ``.venv/bin/python bench/suite_speed.py [--sim sim1] [--runs 3] [--phases]``.

``--runs N`` repeats both, alternating (suite, script, suite, ...), and prints each pair and the range.
``--phases`` adds one more suite run, outside the timed ones, with bench/suite_phases.py loaded: where its
seconds went (start-up, the tests, the report, the interpreter's exit, and the slowest test phases).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jetson_hil import junit
from jetson_hil.profile import load_profile
from jetson_hil.sim import simulator

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools" / "jetson"


def runbook_script(cfg: simulator.SimConfig, agent: str, mqtt_port: int) -> list[tuple[str, str]]:
    """(task, shell command) in the runbook's order, for the simulator (device host = its container)."""
    dev = f"docker exec {cfg.container} sh -c"

    def on_device(command: str) -> str:
        return f"{dev} {shlex.quote(command)}"

    def sub(topic: str) -> str:
        return f"timeout 5s mosquitto_sub -h 127.0.0.1 -p {mqtt_port} -t {topic} -C 1"

    probe = (
        f"docker cp {TOOLS / 'check_torch_cuda.py'} {agent}:/tmp/check_torch_cuda.py && "
        f"docker exec {agent} python3 /tmp/check_torch_cuda.py"
    )
    tegrastats = on_device("timeout 5s tegrastats --interval 1000")
    task2 = [("2", probe), ("2", f"docker logs --tail 200 {agent}")]
    task3 = [("3", sub("vision/embeddings")), ("3", tegrastats)]
    return [
        ("1", on_device("cat /etc/nv_tegra_release")),
        ("1", on_device("cat /usr/local/cuda/version.txt 2>/dev/null || true")),
        ("1", on_device("dpkg -l | grep -E 'nvidia-jetpack|cuda|cudnn|tensorrt' || true")),
        ("1", tegrastats),
        *task2,
        *task3,
        *[("4", c) for _, c in task2 + task3],
        ("5", sub("vision/embeddings")),
        ("6", sub("progress/understanding")),
        ("6", sub("act/result")),
        ("6", tegrastats),
    ]


def run_script(commands: list[tuple[str, str]]) -> tuple[float, int, int]:
    start = time.perf_counter()
    failed = 0
    for task, command in commands:
        p = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        if p.returncode not in (0, 124):  # tegrastats under `timeout` ends with 124 by design
            failed += 1
            print(f"  script: Task {task} exit {p.returncode}: {command[:100]}")
    return time.perf_counter() - start, len(commands), failed


def suite_command(profile: Path, tmp: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "jetson",
        f"--device={profile}",
        "-q",
        f"--junitxml={tmp}/junit.xml",
        f"--report-dir={tmp}/report",
    ]


def run_suite(profile: Path) -> tuple[float, int, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        subprocess.run(suite_command(profile, tmp), cwd=REPO, capture_output=True, text=True, timeout=900)
        seconds = time.perf_counter() - start
        outcomes = junit.read(xml)
        summary = Path(tmp) / "report" / "summary.json"
        measured = json.loads(summary.read_text()).get("measurements", []) if summary.exists() else []
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    per_test = collections.Counter(m.get("nodeid") for m in measured)
    extra = sum(n - 1 for n in per_test.values() if n > 1)
    counts["measurements"] = len(measured)
    return seconds, sum(n for k, n in counts.items() if k in ("passed", "failed", "error")) + extra, counts


def phases(profile: Path) -> None:
    """One more suite run with bench/suite_phases.py: prints where its seconds went."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phases.json"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO / "bench")])),
            "JETSON_HIL_PHASES": str(out),
            "JETSON_HIL_PHASES_T0": repr(time.time()),
        }
        start = time.perf_counter()
        command = [*suite_command(profile, tmp), "-p", "suite_phases"]
        subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        total = time.perf_counter() - start
        found = json.loads(out.read_text()) if out.exists() else {"marks": {}, "slowest": []}
    print(f"phases (one more suite run, {total:.2f} s; seconds since launch):")
    before = 0.0
    for name, at in sorted(found["marks"].items(), key=lambda kv: kv[1]):
        print(f"  {at:7.3f}  (+{at - before:5.3f})  {name}")
        before = at
    print(f"  {total:7.3f}  (+{total - before:5.3f})  process ended")
    print("  slowest test phases (seconds, ended at):")
    for row in found["slowest"]:
        print(f"    {row['seconds']:6.3f}  {row['ended']:7.3f}  {row['what']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", default="sim1")
    parser.add_argument("--runs", type=int, default=1, help="pairs of runs, alternating suite and script")
    parser.add_argument("--phases", action="store_true", help="then one suite run with bench/suite_phases.py")
    args = parser.parse_args()
    if args.runs < 1:
        raise SystemExit(f"--runs must be at least 1, not {args.runs}")
    state = simulator.status(args.sim)
    if state.get("state") != "up":
        raise SystemExit(f"simulator {args.sim!r} is not up: `jetson-hil sim up --name {args.sim}` first")
    cfg = simulator.SimConfig.load(args.sim)
    profile = Path(state["profile"])
    loaded = load_profile(profile)
    window, agent = loaded.limits.window_s, loaded.containers.agent
    ratios = []
    for run in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"run {run} of {args.runs}")
        suite_s, suite_checks, counts = run_suite(profile)
        print(f"suite:  {suite_s:6.1f} s  {suite_checks} checks  {counts}  (window {window:g} s)")
        script_s, script_checks, failed = run_script(runbook_script(cfg, agent, cfg.mqtt_port))
        print(f"script: {script_s:6.1f} s  {script_checks} checks  ({failed} commands failed)")
        print(
            f"ratio:  time {suite_s / script_s:.2f}x (target <= 0.6x), checks {suite_checks / script_checks:.1f}x "
            f"(target >= 5x), suite vs window + 15 s: {suite_s:.1f} / {window + 15:g} s"
        )
        ratios.append(suite_s / script_s)
    if args.runs > 1:
        print(f"time ratio over {args.runs} runs: {min(ratios):.2f}x-{max(ratios):.2f}x (target <= 0.6x)")
    if args.phases:
        phases(profile)


if __name__ == "__main__":
    main()
