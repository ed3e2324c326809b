"""A fleet run as data: which device fails what, from each device's summary.json (jetson_hil.report.summary).

The fleet summary is what the run's top-level ``summary.json`` holds when more than one device was tested:
the run's verdict, one row per device (its verdict, its verdict per runbook task, its failing checks) and
where each device's own summary lies (``devices/<name>/summary.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jetson_hil.report.summary import SCHEMA_VERSION, TASKS

VERDICT_ORDER = ("failed", "passed", "skipped", "not run")


def short_id(nodeid: str) -> str:
    """A test id without its module path (``test_x[sim2]``), as the fleet table names failing checks."""
    return nodeid.rsplit("::", 1)[-1]


def device_row(name: str, device_summary: Mapping[str, Any]) -> dict[str, Any]:
    """One device's row: verdict, per-task verdicts, failing checks with their first message line."""
    run = device_summary.get("run", {})
    failed = [
        {
            "test": short_id(t["nodeid"]),
            "nodeid": t["nodeid"],
            "tasks": list(t.get("tasks", ())),
            "message": (t.get("message") or "").splitlines()[0][:300] if t.get("message") else "",
        }
        for t in device_summary.get("tests", [])
        if t.get("outcome") in ("failed", "error")
    ]
    return {
        "device": name,
        "profile": run.get("device"),
        "verdict": run.get("verdict", "not run"),
        "worker": run.get("worker"),
        "tasks": {task: v.get("verdict", "not run") for task, v in device_summary.get("tasks", {}).items()},
        "failed": failed,
        "summary": f"devices/{name}/summary.json",
    }


def verdict(rows: list[Mapping[str, Any]]) -> str:
    """failed when any device failed; passed when every device that ran passed; else not run."""
    verdicts = [r["verdict"] for r in rows]
    if "failed" in verdicts:
        return "failed"
    if "passed" in verdicts:
        return "passed"
    return "not run"


def build(run: Mapping[str, Any], device_summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet's summary.json: the run, one row per device (fleet order), the tasks in column order."""
    rows = [device_row(name, s) for name, s in device_summaries.items()]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "fleet",
        "run": {**run, "devices": [r["device"] for r in rows], "verdict": verdict(rows)},
        "tasks": list(TASKS),
        "fleet": rows,
    }


def failing_lines(fleet_summary: Mapping[str, Any]) -> list[str]:
    """One line per device for the terminal: ``sim3: failed: task3 (test_a[sim3], test_b[sim3])``."""
    lines = []
    for row in fleet_summary.get("fleet", []):
        bad = [t for t, v in row["tasks"].items() if v == "failed"]
        if row["verdict"] != "failed":
            lines.append(f"{row['device']}: {row['verdict']}")
            continue
        tests = ", ".join(f["test"] for f in row["failed"][:6]) + (" ..." if len(row["failed"]) > 6 else "")
        lines.append(f"{row['device']}: failed: {', '.join(bad) or 'checks outside the tasks'} ({tests})")
    return lines
