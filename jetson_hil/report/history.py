"""Earlier runs of the same device, read back from the summary.json files under the reports root, so a run can be
compared with the one before it and with its baseline, and a trend page can plot each figure over the last runs.

The reports root is the folder that holds the run directories (``reports/`` by default, ``JETSON_HIL_REPORTS``
moves it). A run's summary.json is found at ``<run>/summary.json``; a fleet run's devices at
``<run>/devices/<name>/summary.json``. A run belongs to a device by ``run.device`` (the device name in
summary.json); nothing of another device is ever compared or plotted.

The baseline of a figure: the device's profile-named perf baseline (``baselines/<device>.json``, jetson_hil.perf)
where it names that figure, else the oldest run kept under the reports root.

>>> doc = {"run": {"device": "orin", "id": "r2", "started": "2026-01-02"},
...        "measurements": [{"name": "rate_hz", "value": 4.0, "unit": "Hz", "low": 2.0}],
...        "latency_ms": {"count": 3, "p50": 80.0, "p95": 120.0}}
>>> sorted(figures(doc))
['embeddings.latency_p50_ms', 'embeddings.latency_p95_ms', 'rate_hz']
>>> delta(4.0, 5.0)
{'value': 5.0, 'delta': -1.0, 'percent': -20.0}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RUNS = 20
# the latency summary is not a measurement, but it is the figure a morning-after reader looks for first
LATENCY_FIGURES = (("p50", "embeddings.latency_p50_ms"), ("p95", "embeddings.latency_p95_ms"))


def device_of(summary: Mapping[str, Any]) -> str:
    """The device a (device) summary belongs to: ``run.device``; '' when it names none."""
    return str((summary.get("run") or {}).get("device") or "")


def _number(value: Any) -> float | None:
    """A finite number as it was (an int stays an int), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(float(value)) else None


def figures(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's numeric figures by name: each measurement (the first of a name), and latency p50/p95.
    A figure that could not be taken (None, NaN) is left out: it has no point to plot."""
    out: dict[str, dict[str, Any]] = {}
    for m in summary.get("measurements") or []:
        value = _number(m.get("value"))
        if value is None or m.get("name") in out:
            continue
        out[str(m["name"])] = {
            "value": value,
            "unit": m.get("unit") or "",
            "low": _number(m.get("low")),
            "high": _number(m.get("high")),
            "outcome": m.get("outcome"),
        }
    latency = summary.get("latency_ms") or {}
    for key, name in LATENCY_FIGURES:
        value = _number(latency.get(key))
        if value is not None and name not in out:
            out[name] = {"value": value, "unit": "ms", "low": None, "high": None, "outcome": None}
    return out


def delta(value: float, reference: float | None) -> dict[str, Any] | None:
    """`value` against `reference`: the reference, the difference and the relative change in % (None when the
    reference is 0); None without a reference."""
    if reference is None:
        return None
    diff = value - reference
    percent = round(diff / reference * 100.0, 1) if reference else None
    return {"value": reference, "delta": round(diff, 6), "percent": percent}


@dataclass
class Run:
    """One kept run of a device: its id, start time, where its summary lies, its figures."""

    id: str
    started: str
    path: Path
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdict: str = ""


def _summaries(root: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    """Every readable device summary under `root` (a fleet run's per-device ones included); `latest` and other
    links are skipped so no run is read twice; an unreadable file is skipped (it has nothing to compare)."""
    if not root.is_dir():
        return
    for run_dir in sorted(root.iterdir()):
        if run_dir.is_symlink() or not run_dir.is_dir():
            continue
        for path in (run_dir / "summary.json", *sorted((run_dir / "devices").glob("*/summary.json"))):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("run"), dict) and doc.get("kind") != "fleet":
                yield path, doc


def runs(root: Path, device: str, limit: int | None = DEFAULT_RUNS) -> list[Run]:
    """The device's kept runs under `root`, oldest first, the last `limit` of them (all when None)."""
    found = [
        Run(
            id=str(doc["run"].get("id") or path.parent.name),
            started=str(doc["run"].get("started") or ""),
            path=path,
            figures=figures(doc),
            verdict=str(doc["run"].get("verdict") or ""),
        )
        for path, doc in _summaries(Path(root))
        if device_of(doc) == device
    ]
    found.sort(key=lambda r: (r.started, r.id))
    return found[-limit:] if limit else found


def devices(root: Path) -> list[str]:
    """The devices that have runs under `root`, by name."""
    return sorted({device_of(doc) for _, doc in _summaries(Path(root))} - {""})


def profile_baseline(folder: Path | None, device: str) -> dict[str, float]:
    """name -> value from ``<folder>/<device>.json`` (the perf baseline), {} when there is none or it is
    unreadable."""
    if folder is None:
        return {}
    try:
        doc = json.loads((Path(folder) / f"{device}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    out = {}
    for name, entry in (metrics or {}).items():
        value = _number(entry.get("value")) if isinstance(entry, dict) else None
        if value is not None:
            out[str(name)] = value
    return out


def compare(
    current: Mapping[str, Any], earlier: Sequence[Run], baseline: Mapping[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    """Per figure of `current` (a device summary): the previous run's value and the baseline's, each with the
    delta. `earlier` are the device's kept runs, oldest first; the current run among them is left out by id.
    The baseline is `baseline[name]` (the profile's) when given, else the oldest earlier run with the figure;
    each comparison says which (``source``)."""
    run_id = str((current.get("run") or {}).get("id") or "")
    before = [r for r in earlier if r.id != run_id]
    out: dict[str, dict[str, Any]] = {}
    for name, fig in figures(current).items():
        row: dict[str, Any] = {}
        previous = next((r for r in reversed(before) if name in r.figures), None)
        if previous is not None:
            row["previous"] = {**delta(fig["value"], previous.figures[name]["value"]), "run": previous.id}
        if baseline and name in baseline:
            row["baseline"] = {**delta(fig["value"], baseline[name]), "source": "profile baseline"}
        else:
            oldest = next((r for r in before if name in r.figures), None)
            if oldest is not None:
                row["baseline"] = {**delta(fig["value"], oldest.figures[name]["value"]), "source": f"run {oldest.id}"}
        if row:
            out[name] = row
    return out


def series(kept: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Per figure over the kept runs (oldest first): points (run id, value), its unit and the limits of the
    latest run that has it (what the figure is held to now)."""
    out: dict[str, dict[str, Any]] = {}
    for run in kept:
        for name, fig in run.figures.items():
            entry = out.setdefault(name, {"unit": fig["unit"], "points": []})
            entry["points"].append((run.id, fig["value"]))
            entry.update(unit=fig["unit"] or entry["unit"], low=fig["low"], high=fig["high"])
    return dict(sorted(out.items()))
