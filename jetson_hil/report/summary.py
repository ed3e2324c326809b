"""summary.json: the run as data (schema docs/summary-schema.json), and the series the plots are drawn from."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jetson_hil import runbook
from jetson_hil.report.redact import redact_env

SCHEMA_VERSION = 1
TASKS = ("task1", "task2", "task3", "task4", "task5", "task6")


def redact(env: Mapping[str, str]) -> dict[str, str]:
    """The env as the report shows it: only the keys the runbook reads (jetson_hil.report.redact)."""
    return redact_env(env)


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples, datetimes and odd objects made JSON-safe (str() as the last resort)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def task_verdicts(tests: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task marker: failed if any of its tests failed or errored, passed if any passed, 'expected failure'
    when its only findings are the expected ones (xfail: the failure that led to Plan B), else skipped/not run."""
    out: dict[str, dict[str, Any]] = {}
    for task in TASKS:
        mine = [t for t in tests if task in t.get("tasks", ())]
        counts = {
            k: sum(1 for t in mine if t["outcome"] == k) for k in ("passed", "failed", "error", "skipped", "xfailed")
        }
        if counts["failed"] or counts["error"]:
            verdict = "failed"
        elif counts["passed"]:
            verdict = "passed"
        elif counts["xfailed"]:
            verdict = "expected failure"
        elif counts["skipped"]:
            verdict = "skipped"
        else:
            verdict = "not run"
        out[task] = {
            "verdict": verdict,
            "passed": counts["passed"],
            "failed": counts["failed"] + counts["error"],
            "skipped": counts["skipped"],
            "xfailed": counts["xfailed"],
        }
    return out


def dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


def telemetry_series(samples: Iterable[Any]) -> dict[str, Any]:
    """Time series from tegrastats samples (`received`, `sample`): t (epoch s), gpu %, RAM MB, rails mW, temps C."""
    t: list[float] = []
    gpu: list[float | None] = []
    ram: list[float | None] = []
    rails: dict[str, list[float | None]] = {}
    temps: dict[str, list[float | None]] = {}
    for i, s in enumerate(samples):
        parsed = s.sample
        t.append(round(float(s.received), 3))
        gpu.append(getattr(parsed, "gpu_load_percent", None))
        ram.append(getattr(parsed, "ram_used_mb", None))
        for name, rail in (getattr(parsed, "rails", None) or {}).items():
            rails.setdefault(name, [None] * i).append(getattr(rail, "current_mw", None))
        for name, value in (getattr(parsed, "temperatures", None) or {}).items():
            temps.setdefault(name, [None] * i).append(value)
        for series in (*rails.values(), *temps.values()):
            if len(series) < i + 1:
                series.append(None)
    return {"t": t, "gpu_load_percent": gpu, "ram_used_mb": ram, "rails_mw": rails, "temperatures_c": temps}


def downsample(series: Mapping[str, Any], max_points: int) -> dict[str, Any]:
    """Every n-th point so at most `max_points` remain (nested dicts of lists alike); the full data stays in
    telemetry.json."""
    n = len(series.get("t", []))
    step = max(1, math.ceil(n / max_points)) if max_points > 0 else 1

    def pick(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: pick(x) for k, x in v.items()}
        return list(v[::step])

    return {k: pick(v) for k, v in series.items()}


def embedding_timing(messages: Iterable[Any], ts_path: str) -> dict[str, Any]:
    """Receive times and latencies (receive time minus the payload's `ts`, ms) of the embedding messages."""
    received: list[float] = []
    latency: list[float] = []
    for m in messages:
        received.append(float(m.received))
        payload, _error = m.decode()
        ts = dotted(payload, ts_path)
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            latency.append(round((float(m.received) - float(ts)) * 1000.0, 3))
    return {"received": received, "latency_ms": latency}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_stats(latency_ms: Sequence[float]) -> dict[str, Any]:
    if not latency_ms:
        return {"count": 0}
    return {
        "count": len(latency_ms),
        "p50": round(percentile(latency_ms, 0.5), 3),
        "p95": round(percentile(latency_ms, 0.95), 3),
        "max": round(max(latency_ms), 3),
        "min": round(min(latency_ms), 3),
    }


def rate_per_second(received: Sequence[float]) -> tuple[list[float], list[int]]:
    """Messages per 1 s bin: (bin start times, counts)."""
    if not received:
        return [], []
    start = math.floor(min(received))
    bins = [0] * (int(math.floor(max(received)) - start) + 1)
    for r in received:
        bins[int(math.floor(r)) - start] += 1
    return [float(start + i) for i in range(len(bins))], bins


def build(
    *,
    run: Mapping[str, Any],
    device: Mapping[str, Any],
    plan: Mapping[str, Any] | None,
    tests: Sequence[Mapping[str, Any]],
    measurements: Sequence[Mapping[str, Any]],
    attachments: Sequence[Mapping[str, Any]],
    latency_ms: Sequence[float],
    message_count: int,
    telemetry_samples: int,
    files: Sequence[str],
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The summary.json document (see docs/summary-schema.json); the run's verdict is the runbook's end state
    (`jetson_hil.runbook.outcome`)."""
    tasks = task_verdicts(tests)
    end = runbook.outcome(plan, tests)
    return jsonable(
        {
            "schema_version": SCHEMA_VERSION,
            "run": {**run, "verdict": end.verdict, "headline": end.headline},
            "outcome": end.as_dict(),
            "device": device,
            "plan": plan,
            "tasks": tasks,
            "tests": list(tests),
            "measurements": list(measurements),
            "latency_ms": latency_stats(latency_ms),
            "embeddings": {"messages": message_count},
            "telemetry": {"samples": telemetry_samples, "file": "telemetry.json"},
            "attachments": [{"name": a["name"], "nodeid": a.get("nodeid")} for a in attachments],
            "files": sorted(files),
            "data": data,
        }
    )


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
