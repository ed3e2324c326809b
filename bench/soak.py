"""A soak (issue 19): the healthy acceptance suite N times back to back, with K busy processes on the CPU.

A nightly suite that is red once without a cause stops being read; this finds such flakes. Each run is
``pytest -m jetson --device=<profile>`` in a subprocess (jetson_hil.suite_run), judged from its JUnit XML;
every failure is recorded with its check and the first line of its message, and the run's measured
embedding rate (``embeddings.rate_hz`` from summary.json) is printed beside it.

The busy processes (``python3 -c`` spin loops) are started by this script, end by themselves after a bound
(the soak's worst case) even if the script is killed, and are killed in ``finally`` on every path.

Run as root: ``.venv/bin/python bench/soak.py --runs 5 --background-load 2 --sim h19-soak [--encoder tiny]``.
A simulator that is not up is started with ``--encoder``/``--backend`` and purged at the end (``--keep`` keeps
it); one already up is used as it is and left up. ``--json PATH`` saves every run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from jetson_hil import suite_run
from jetson_hil.sim import simulator

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 900.0  # a hang guard per suite run, sized for a loaded 2-core machine


def spin_code(seconds: float) -> str:
    """A busy loop that ends by itself after ``seconds`` (so a killed soak leaves nothing spinning)."""
    return f"import time\nend = time.monotonic() + {seconds:.0f}\nwhile time.monotonic() < end:\n    pass\n"


def start_load(k: int, seconds: float) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(["python3", "-c", spin_code(seconds)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(k)
    ]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"busy process {p.pid} did not end after SIGKILL", file=sys.stderr)


def rate_of(report_dir: Path) -> float | None:
    summary = report_dir / "summary.json"
    if not summary.exists():
        return None
    for m in json.loads(summary.read_text()).get("measurements", []):
        if m.get("name") == "embeddings.rate_hz" and isinstance(m.get("value"), (int, float)):
            return float(m["value"])
    return None


def one_run(index: int, profile: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        report = Path(tmp) / "report"
        got = suite_run.run([f"--device={profile}", f"--report-dir={report}"], REPO, Path(tmp) / "junit.xml",
                            RUN_TIMEOUT_S)
        rate = rate_of(report)
    failures = [
        {"check": o.test_id, "outcome": o.outcome, "message": (o.message.splitlines() or [""])[0][:400]}
        for o in got.outcomes
        if o.outcome in ("failed", "error")
    ]
    if got.problem:
        failures.append({"check": "(suite)", "outcome": "error", "message": got.problem})
    return {
        "run": index,
        "seconds": round(got.seconds, 1),
        "passed": sum(o.outcome == "passed" for o in got.outcomes),
        "failed": len(failures),
        "skipped": sum(o.outcome == "skipped" for o in got.outcomes),
        "rate_hz": rate,
        "failures": failures,
    }


def ensure_sim(args: argparse.Namespace) -> tuple[Path, bool]:
    """The simulator's profile, and whether this script started it (and so should purge it)."""
    state = simulator.status(args.sim)
    if state.get("state") == "up":
        return Path(state["profile"]), False
    cmd = [str(REPO / ".venv" / "bin" / "jetson-hil"), "sim", "up", "--name", args.sim]
    for flag in ("encoder", "backend"):
        if getattr(args, flag):
            cmd += [f"--{flag}", getattr(args, flag)]
    print("starting:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    state = simulator.status(args.sim)
    if state.get("state") != "up":
        raise SystemExit(f"simulator {args.sim!r} did not come up: {state}")
    return Path(state["profile"]), True


def table(rows: list[dict]) -> None:
    print(f"{'run':>4} {'seconds':>8} {'passed':>7} {'failed':>7} {'rate Hz':>8}  failing checks")
    for r in rows:
        names = ", ".join(f["check"].split("::")[-1] for f in r["failures"]) or "-"
        rate = "-" if r["rate_hz"] is None else f"{r['rate_hz']:.2f}"
        print(f"{r['run']:>4} {r['seconds']:>8.1f} {r['passed']:>7} {r['failed']:>7} {rate:>8}  {names}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--background-load", type=int, default=0, metavar="K", help="busy processes (0-16)")
    parser.add_argument("--sim", default="soak", help="simulator name (started if not up)")
    parser.add_argument("--encoder", choices=("dinov2-s14", "siglip2-b16", "tiny"), help="for a simulator started here")
    parser.add_argument("--backend", choices=("pytorch", "tensorrt"), help="for a simulator started here")
    parser.add_argument("--keep", action="store_true", help="leave a simulator started here up")
    parser.add_argument("--json", metavar="PATH", help="save every run here")
    args = parser.parse_args()
    if args.runs < 1:
        raise SystemExit(f"--runs must be at least 1, not {args.runs}")
    if not 0 <= args.background_load <= 16:
        raise SystemExit(f"--background-load must be 0-16, not {args.background_load}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through finally: the load is killed
    profile, started = ensure_sim(args)
    load: list[subprocess.Popen] = []
    rows: list[dict] = []
    try:
        load = start_load(args.background_load, args.runs * RUN_TIMEOUT_S + 60)
        for i in range(1, args.runs + 1):
            row = one_run(i, profile)
            rows.append(row)
            for f in row["failures"]:
                print(f"  run {i}: {f['outcome']}: {f['check']}: {f['message']}", flush=True)
    finally:
        stop_load(load)
        if started and not args.keep:
            subprocess.run([str(REPO / ".venv" / "bin" / "jetson-hil"), "sim", "down", "--name", args.sim, "--purge"],
                           cwd=REPO, stdout=subprocess.DEVNULL)
    table(rows)
    bad = [r for r in rows if r["failed"]]
    rates = [r["rate_hz"] for r in rows if r["rate_hz"] is not None]
    spread = f", rate {min(rates):.2f}-{max(rates):.2f} Hz" if rates else ""
    print(f"soak: {len(rows)} runs, {len(rows) - len(bad)} green, {len(bad)} with failures "
          f"({sum(r['failed'] for r in rows)} failures), background load {args.background_load}, "
          f"sim {args.sim}{spread}")
    if args.json:
        out = {"sim": args.sim, "background_load": args.background_load, "runs": rows, "cpus": os.cpu_count()}
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
