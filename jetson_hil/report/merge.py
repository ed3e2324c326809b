"""``jetson-hil report merge DIR... --out DIR``: one fleet report from several runs' report directories, e.g. the
jobs of a CI matrix that tests one device per runner. The result has the layout one controller run of a fleet
writes (docs/fleet.md): a fleet ``summary.json`` (jetson_hil.fleet), ``devices/<name>/`` with each device's
summary.json, telemetry.json, plots, report.html and junit.xml as its job wrote them, and ``report.html``: the
fleet table and each device's sections (jetson_hil.report.page, the renderer a fleet run's page uses), each
linking its job's own page for the full test table.

A directory may hold a device run or a fleet run (its devices are taken one by one). A device name seen twice
is refused: two jobs tested one device, or two devices share a profile name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jetson_hil import fleet
from jetson_hil.report import history, page, summary

DEVICE_FILES = ("summary.json", "telemetry.json", "telemetry.png", "latency.png", "report.html", "junit.xml")
PNGS = ("telemetry.png", "latency.png")


class MergeError(Exception):
    """A directory that cannot be merged, in one line."""


@dataclass
class Part:
    """One device's run: its summary and the folder its files are in."""

    name: str
    summary: dict[str, Any]
    folder: Path


def read_summary(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path.parent}: no summary.json (not a run's report directory)") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: not readable as JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("run"), dict):
        raise MergeError(f"{path}: not a jetson-hil summary (no 'run' object)")
    return doc


def parts(dirs: Sequence[Path]) -> list[Part]:
    """The device runs in `dirs`, in the order given (a fleet run's devices in its fleet order)."""
    found: dict[str, Part] = {}
    for folder in map(Path, dirs):
        doc = read_summary(folder / "summary.json")
        if doc.get("kind") == "fleet":
            inner = [Part(r["device"], read_summary(folder / r["summary"]), (folder / r["summary"]).parent)
                     for r in doc.get("fleet", [])]  # fmt: skip
        else:
            inner = [Part(history.device_of(doc) or folder.name, doc, folder)]
        for part in inner:
            if part.name in found:
                raise MergeError(
                    f"device {part.name} is in both {found[part.name].folder} and {part.folder}: merge one run per "
                    "device (two jobs tested one device, or two profiles share a name)"
                )
            found[part.name] = part
    if not found:
        raise MergeError("nothing to merge: name at least one report directory")
    return list(found.values())


def fleet_summary(found: Sequence[Part], out: Path, run_id: str | None = None) -> dict[str, Any]:
    """The fleet summary.json of the merged runs: started at the first job's start, finished at the last's end,
    failed (exit status 1) when any device failed."""
    runs = [p.summary["run"] for p in found]
    statuses = [int(r.get("exit_status") or 0) for r in runs]
    run = {
        "id": run_id or "merged-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
        "started": min((str(r.get("started") or "") for r in runs), default=""),
        "finished": max((str(r.get("finished") or "") for r in runs), default=""),
        "exit_status": 1 if 1 in statuses else max(statuses, default=0),
        "report_dir": str(out),
        "merged_from": [r.get("id") for r in runs],
    }
    return fleet.build(run, {p.name: p.summary for p in found})


def write(dirs: Sequence[Path], out: Path, run_id: str | None = None) -> dict[str, Any]:
    """Merges `dirs` into `out` (created; a folder among `dirs` is refused); returns the fleet summary."""
    out = Path(out).resolve()
    if any(Path(d).resolve() == out for d in dirs):
        raise MergeError(f"--out {out} is one of the directories to merge: choose a new folder")
    found = parts(dirs)
    doc = fleet_summary(found, out, run_id)
    pngs: dict[str, dict[str, bytes]] = {}
    for part in found:
        target = out / "devices" / part.name
        target.mkdir(parents=True, exist_ok=True)
        for name in DEVICE_FILES:
            if (part.folder / name).is_file():
                shutil.copyfile(part.folder / name, target / name)
        pngs[part.name] = {n: (part.folder / n).read_bytes() for n in PNGS if (part.folder / n).is_file()}
    (out / "summary.json").write_text(summary.dumps(doc), encoding="utf-8")
    links = {p.name: f"devices/{p.name}/report.html" for p in found if (p.folder / "report.html").is_file()}
    blocks = page.fleet_sections(doc, {p.name: p.summary for p in found}, pngs, links=links)
    (out / "report.html").write_text(page.standalone("jetson-hil fleet report", blocks), encoding="utf-8")
    return doc
