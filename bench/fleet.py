"""Fleet speed (issue 10): `pytest -m jetson` against 1, 2 and 4 simulated devices, one xdist worker per device.

For each fleet size N: ``pytest -m jetson -n N --device=sim:simK ...`` (the first N devices) in a subprocess,
wall time measured around it (start-up, every device's checks and the merged report included), its verdicts
read back from JUnit XML. The largest fleet is also timed sequentially (no -n), for what xdist buys, and
with -n 2 (one worker per core, two devices each).
Target: N=4 within 1.5x of N=1 on a 2-core machine, or the reason it is not.

The devices must be up and healthy (tiny encoder): a device that is down is started (and stopped at the
end), one with faults set is refused rather than changed. All of them stay up during every run, so each
fleet size runs with the same background load from the simulators (on real hardware the devices' own work
is not on the runner's CPUs); the load average before and after each run is printed, and the CPU time
the run's own processes used (the pytest controller and its workers, user + system; the devices' side, such
as the probes in their containers, is not in it).

Run as root: ``.venv/bin/python bench/fleet.py [--sizes 1,2,4] [--first 1] [--window 5] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

from jetson_hil import suite_run
from jetson_hil.sim import fleet, simulator

REPO = Path(__file__).resolve().parents[1]


def ensure_healthy(names: list[str]) -> list[str]:
    """Starts the devices that are down (tiny encoder); returns those it started. Refuses faulty ones."""
    started = []
    for name in names:
        state = simulator.status(name)
        if state.get("state") == "up" and state.get("services"):
            if state.get("faults"):
                sys.exit(
                    f"bench/fleet.py: {name} has faults set ({', '.join(state['faults'])}); clear them "
                    f"(`jetson-hil sim fault clear NAME --name {name}`) or pick others with --first"
                )
            continue
        print(f"starting {name} (tiny encoder)", flush=True)
        simulator.up(simulator.SimConfig(name=name, encoder="tiny", rate=5.0), log=lambda m: None)
        started.append(name)
    return started


def run_fleet(names: list[str], workers: int, window: float, out: Path) -> dict:
    args = ["-c", "pyproject.toml", "--rootdir", ".", *(["-n", str(workers)] if workers else []),
            *(f"--device=sim:{n}" for n in names), f"--window={window:g}", f"--report-dir={out / 'rep'}"]  # fmt: skip
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = suite_run.run(args, REPO, out / "junit.xml", timeout_s=900)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    counts = {k: len(run.of(k)) for k in ("passed", "failed", "error", "skipped")}
    return {
        "devices": len(names),
        "workers": workers,
        "seconds": round(run.seconds, 1),
        "runner_cpu_s": round(cpu, 1),
        "rc": run.rc,
        "problem": run.problem,
        **counts,
        "failing": sorted(t.rsplit("::", 1)[-1] for t in (*run.of("failed"), *run.of("error")))[:6],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def describe(row: dict) -> str:
    how = f"-n {row['workers']}" if row["workers"] else "sequential"
    text = (
        f"{row['devices']} device(s), {how}: {row['seconds']} s, {row['passed']} passed, "
        f"{row['failed'] + row['error']} failed, {row['skipped']} skipped, runner CPU {row['runner_cpu_s']} s, "
        f"load {row['load_before']} -> {row['load_after']}"
    )
    if row["problem"]:
        text += f" ({row['problem']})"
    if row["failing"]:
        text += f"; failed: {', '.join(row['failing'])}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4", help="fleet sizes (default 1,2,4)")
    parser.add_argument("--first", type=int, default=1, help="devices are sim<first>.. (default sim1)")
    parser.add_argument("--window", type=float, default=5.0, help="evidence window in seconds (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per fleet size; the median counts (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    names = fleet.names(max(sizes), args.first)
    started = ensure_healthy(names)
    rows = []
    plan = [(n, n) for n in sizes] + [(max(sizes), 0)]
    if max(sizes) > 2:
        plan.append((max(sizes), 2))  # as many workers as this machine's cores
    runs: dict[tuple[int, int], list[dict]] = {p: [] for p in plan}
    try:
        with tempfile.TemporaryDirectory(prefix="jetson-hil-bench-fleet-") as tmp:
            for r in range(args.repeat):  # sizes interleaved, so a drifting background load hits each alike
                for i, (n, workers) in enumerate(plan):
                    out = Path(tmp) / f"{i}-{r}"
                    out.mkdir()
                    row = run_fleet(names[:n], workers, args.window, out)
                    runs[(n, workers)].append(row)
                    print(describe(row), flush=True)
        for key in plan:
            ordered = sorted(runs[key], key=lambda x: x["seconds"])
            rows.append({**ordered[len(ordered) // 2], "all_seconds": [x["seconds"] for x in runs[key]]})
    finally:
        for name in started:
            simulator.down(name, log=lambda m: None)
    one = next(r for r in rows if r["devices"] == min(sizes) and r["workers"])
    top = next(r for r in rows if r["devices"] == max(sizes) and r["workers"])
    seq = next(r for r in rows if r["devices"] == max(sizes) and not r["workers"])
    two = next((r for r in rows if r["devices"] == max(sizes) and r["workers"] == 2 and max(sizes) > 2), None)
    if two:
        print(f"{max(sizes)} devices with -n 2: {two['seconds']} s = {two['seconds'] / one['seconds']:.2f}x")
    ratio = top["seconds"] / one["seconds"]
    print(f"\n{max(sizes)} devices with -n {max(sizes)}: {top['seconds']} s = {ratio:.2f}x one device "
          f"({one['seconds']} s; target 1.5x); sequential {seq['seconds']} s = {seq['seconds'] / one['seconds']:.2f}x; "
          f"CPUs {os.cpu_count()}; the median of {args.repeat} run(s) per size")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ratio": ratio, "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
