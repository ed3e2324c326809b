r"""The design doc's jetson-hil section: written between two marker comments, every other byte kept.

>>> splice("# Doc\n", "S\n")
'# Doc\n\n<!-- jetson-hil:begin -->\nS\n<!-- jetson-hil:end -->\n'
>>> splice(splice("# Doc\n", "S\n"), "T\n")
'# Doc\n\n<!-- jetson-hil:begin -->\nT\n<!-- jetson-hil:end -->\n'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BEGIN = "<!-- jetson-hil:begin -->"
END = "<!-- jetson-hil:end -->"


class MarkerError(ValueError):
    """The doc's markers are unusable (END before BEGIN, one without the other, or repeated)."""


def splice(doc: str, section: str) -> str:
    """`doc` with `section` between the markers (replacing what was there), or appended once with markers.

    Bytes outside the markers are untouched; splicing the same section twice gives the same text.
    """
    body = section if section.endswith("\n") or not section else section + "\n"
    begins, ends = doc.count(BEGIN), doc.count(END)
    if begins == 0 and ends == 0:
        sep = "" if not doc else ("\n" if doc.endswith("\n") else "\n\n")
        return f"{doc}{sep}{BEGIN}\n{body}{END}\n"
    if begins != 1 or ends != 1:
        raise MarkerError(
            f"the design doc has {begins} {BEGIN} and {ends} {END} markers; expected one of each (or none): "
            "fix the markers by hand"
        )
    start = doc.index(BEGIN) + len(BEGIN)
    stop = doc.index(END)
    if stop < start:
        raise MarkerError(f"{END} comes before {BEGIN} in the design doc: fix the markers by hand")
    return f"{doc[:start]}\n{body}{doc[stop:]}"


def render_section(summary: Mapping[str, Any], report_location: str) -> str:
    """Markdown for the doc: the runbook's end state first (docs/runbook-outcomes.md), then the runbook path, the
    verdict per task, the key figures and where the report is."""
    run = summary.get("run", {})
    plan = summary.get("plan") or {}
    end = summary.get("outcome") or {}
    lines = [f"### Hardware acceptance (jetson-hil), run {run.get('id', '?')}", ""]
    if end:
        lines.append(f"**End state: {end.get('title', '?')} ({end.get('verdict', '?')})**: {end.get('headline', '')}")
        lines += [f"- Note: {note}" for note in end.get("notes", [])]
        if end.get("verdict") == "failed" and end.get("fix"):
            where = f" (Task {end['stops_at_task']})" if end.get("stops_at_task") else ""
            lines.append(f"- Fix{where}: {end['fix']}")
        lines.append("")
    lines += [
        f"- Device: {run.get('device', '?')}; overall: **{run.get('verdict', '?')}**",
        f"- Runbook path: {plan.get('path', 'not decided')} {plan.get('title', '')}".rstrip(),
    ]
    if plan.get("reason"):
        lines.append(f"- Chosen because: {plan['reason']}")
    lines += ["", "| Task | Verdict | Passed | Failed | Skipped |", "|---|---|---|---|---|"]
    for task, v in sorted(summary.get("tasks", {}).items()):
        lines.append(f"| {task} | {v['verdict']} | {v['passed']} | {v['failed']} | {v['skipped']} |")
    figures = key_figures(summary)
    if figures:
        lines += ["", "Key figures:", ""]
        lines += [f"- {name}: {text}" for name, text in figures]
    lines += ["", f"Report: [{report_location}]({report_location})"]
    return "\n".join(lines) + "\n"


def key_figures(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, 'value unit (outcome)') of every measurement, the last one of a name winning."""
    seen: dict[str, str] = {}
    for m in summary.get("measurements", []):
        unit = f" {m['unit']}" if m.get("unit") else ""
        seen[m["name"]] = f"{m.get('value')}{unit} ({m.get('outcome')})"
    lat = summary.get("latency_ms") or {}
    if lat.get("count"):
        seen["embedding latency p50 / p95"] = f"{lat['p50']:.1f} / {lat['p95']:.1f} ms"
    return list(seen.items())
