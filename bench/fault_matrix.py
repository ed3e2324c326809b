"""Time the fault matrix: `python bench/fault_matrix.py [-k EXPR] [--record PATH]`.

Runs `selftests/meta/test_fault_matrix.py` (the acceptance suite under every fault, on the shared meta
simulators) with `JETSON_HIL_META_RECORD` set, then prints the matrix's wall time in total and per fault
(switching the device to the fault + the suite run), the mean run time and the mean time to verdict of the
failing checks (seconds from the suite's first test to the failing check's end, from the JUnit per-test
times). Record the output in docs/performance.md ("Fault matrix").

`--from PATH` only summarises an existing record (no run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "selftests" / "meta"))  # the matrix lives with its selftest


def summarise(entries: list[dict], total_s: float | None) -> str:
    from faultmatrix import WINDOW_S

    faults = [e for e in entries if e.get("fault")]
    healthy = [e for e in entries if not e.get("fault")]
    lines = []
    if total_s is not None:
        lines.append(f"meta module wall time: {total_s:.1f} s ({total_s / 60:.1f} min), window {WINDOW_S:g} s")
    if faults:
        per = [e["set_s"] + e["run_s"] + e.get("clear_s", 0.0) for e in faults]
        lines.append(
            f"faults: {len(faults)}, switch+run total {sum(per):.1f} s, mean {statistics.mean(per):.1f} s per fault"
        )
        lines.append(f"{'fault':30} {'scenario':8} {'switch':>6} {'run':>6} {'total':>6} {'verdict':>8}")
        for e, p in zip(faults, per, strict=True):
            v = max(e["verdicts"].values()) if e["verdicts"] else 0.0
            lines.append(
                f"{e['fault']:30} {e['scenario']:8} {e['set_s']:6.1f} {e['run_s']:6.1f} {p:6.1f} {v:8.1f}"
            )
        verdicts = [v for e in faults for v in e["verdicts"].values()]
        runs = [e["run_s"] for e in faults]
        lines.append(
            f"suite run under a fault: mean {statistics.mean(runs):.1f} s, max {max(runs):.1f} s "
            "(not asserted: the selftest only guards against a hang)"
        )
        if verdicts:
            over = sum(v > WINDOW_S + 5 for v in verdicts)
            lines.append(
                f"time to verdict of a failing check: mean {statistics.mean(verdicts):.1f} s, "
                f"max {max(verdicts):.1f} s over {len(verdicts)} failing checks; "
                f"{over} beyond window + 5 = {WINDOW_S + 5:g} s"
            )
    if healthy:
        runs = [e["run_s"] for e in healthy]
        bad = sum(bool(e["failed"] or e["errors"]) for e in healthy)
        lines.append(f"healthy runs: {len(healthy)}, mean {statistics.mean(runs):.1f} s, {bad} with a failure")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="pytest -k expression to time part of the matrix")
    parser.add_argument("--record", default="", help="keep the per-run JSON lines here")
    parser.add_argument("--from", dest="source", default="", help="summarise this record instead of running")
    args = parser.parse_args()
    if args.source:
        entries = [json.loads(x) for x in Path(args.source).read_text().splitlines() if x.strip()]
        print(summarise(entries, None))
        return 0
    record = args.record or tempfile.mktemp(prefix="fault-matrix-", suffix=".jsonl")
    Path(record).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "selftests/meta/test_fault_matrix.py", "-p", "no:randomly", "-q", "-s"]
    if args.k:
        cmd += ["-k", args.k]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "JETSON_HIL_META_RECORD": record})
    total = time.monotonic() - started
    entries = (
        [json.loads(x) for x in Path(record).read_text().splitlines() if x.strip()] if Path(record).exists() else []
    )
    print()
    print(f"$ {' '.join(cmd[1:])}  (exit {proc.returncode}; record {record})")
    print(summarise(entries, total))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
