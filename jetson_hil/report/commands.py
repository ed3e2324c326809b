"""``jetson-hil report trend|merge|summary``: the report's work that happens after runs, from their directories.

- ``trend [DIR] [--runs N] [--device NAME] [--out FILE]``: the trend page of the runs kept under DIR (default the
  reports root: ``JETSON_HIL_REPORTS`` or ``reports``), written to ``DIR/trend.html``.
- ``merge DIR... [--out DIR] [--run-id ID]``: one fleet report from several runs' directories (jetson_hil.report.merge).
- ``summary DIR [--github]``: the run's Markdown summary on stdout, or appended to ``$GITHUB_STEP_SUMMARY``.

Exit status: 0 done, 2 bad input (one line on stderr saying why).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jetson_hil.report import github, history, merge, trend

BASELINES = Path(__file__).resolve().parents[2] / "baselines"


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="trend page, fleet merge and CI summary from report directories",
                            description=__doc__.split("\n\n")[0])  # fmt: skip
    verbs = report.add_subparsers(dest="verb", required=True)
    tr = verbs.add_parser("trend", help="plot each figure over the last N runs of each device (trend.html)")
    tr.add_argument("dir", nargs="?", default=None, help="reports root (default $JETSON_HIL_REPORTS or reports)")
    tr.add_argument("--runs", type=int, default=history.DEFAULT_RUNS, metavar="N", help="runs per device (default 20)")
    tr.add_argument("--device", action="append", default=[], metavar="NAME", help="only this device (repeatable)")
    tr.add_argument("--out", default=None, metavar="FILE", help="where the page goes (default DIR/trend.html)")
    mg = verbs.add_parser("merge", help="one fleet report from several runs' report directories")
    mg.add_argument("dirs", nargs="+", metavar="DIR", help="report directories (one per device, e.g. per CI job)")
    mg.add_argument("--out", default=None, metavar="DIR", help="merged report (default <reports root>/<run id>)")
    mg.add_argument("--run-id", default=None, metavar="ID", help="the merged run's id (default merged-<UTC time>)")
    sm = verbs.add_parser("summary", help="the run's Markdown summary (verdict, failing checks, key figures)")
    sm.add_argument("dir", metavar="DIR", help="a run's report directory (a device's or a fleet's)")
    sm.add_argument("--github", action="store_true", help="append it to $GITHUB_STEP_SUMMARY instead of printing")


def _reports_root() -> Path:
    return Path(os.environ.get("JETSON_HIL_REPORTS") or "reports")


def _trend(args: Any) -> int:
    root = Path(args.dir) if args.dir else _reports_root()
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory (the reports root that holds the run directories)")
    if args.runs < 1:
        raise ValueError(f"--runs {args.runs}: give at least 1")
    path = trend.write(root, args.runs, args.device, Path(args.out) if args.out else None)
    shown = history.devices(root)
    print(f"{path}: {len([d for d in shown if not args.device or d in args.device])} device(s), last {args.runs} runs")
    return 0


def _merge(args: Any) -> int:
    run_id = args.run_id or None
    doc = merge.fleet_summary(merge.parts([Path(d) for d in args.dirs]), Path("."), run_id)
    out = Path(args.out) if args.out else _reports_root() / doc["run"]["id"]
    doc = merge.write([Path(d) for d in args.dirs], out, doc["run"]["id"])
    print(f"{out / 'report.html'}: fleet of {len(doc['fleet'])}: {doc['run']['verdict']}")
    for row in doc["fleet"]:
        print(f"  {row['device']}: {row['verdict']}")
    return 0


def load_run(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A report directory's summary and, for a fleet, each device's (name -> summary)."""
    top = merge.read_summary(folder / "summary.json")
    if top.get("kind") != "fleet":
        return top, {}
    return top, {p.name: p.summary for p in merge.parts([folder])}


def _summary(args: Any) -> int:
    folder = Path(args.dir)
    top, devices = load_run(folder)
    root = folder.resolve().parent
    trends = {}
    for name, s in (devices or {"": top}).items():
        device = history.device_of(s)
        trends[name] = history.compare(s, history.runs(root, device), history.profile_baseline(BASELINES, device))
    text = github.markdown(top, devices, trends)
    if not args.github:
        sys.stdout.write(text)
        return 0
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        raise ValueError("--github: GITHUB_STEP_SUMMARY is not set (GitHub Actions sets it in a job's steps)")
    github.append(target, text)
    print(f"{folder}: summary appended to {target}")
    return 0


def run(args: Any) -> int:
    """Runs a ``report`` verb; bad input is one line on stderr and exit status 2."""
    try:
        return {"trend": _trend, "merge": _merge, "summary": _summary}[args.verb](args)
    except (merge.MergeError, ValueError, OSError) as exc:
        print(f"jetson-hil report {args.verb}: {exc}", file=sys.stderr)
        return 2
