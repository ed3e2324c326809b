"""The run as GitHub-flavoured Markdown for a CI job's summary page (``$GITHUB_STEP_SUMMARY``): the verdict and the
runbook's end state, the device's identity, the verdict per task, each failing check with its diagnosed cause and
fix, and the key figures with their limits (and, where earlier runs are kept, the previous run and the baseline).

Written by the run itself when ``GITHUB_STEP_SUMMARY`` is set (fixtures/report.py), and by
``jetson-hil report summary DIR --github`` from a report directory (a merged fleet's included).

>>> cell("a | b\\nc")
'a \\\\| b c'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jetson_hil.report import page

MESSAGE_CHARS = 240


def cell(value: Any) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    text = " ".join(("" if value is None else str(value)).split())
    return text.replace("|", "\\|")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _failing(tests: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for t in tests:
        if t.get("outcome") not in ("failed", "error"):
            continue
        first = (t.get("diagnoses") or [{}])[0]
        message = (t.get("message") or "")[:MESSAGE_CHARS]
        rows.append([t["nodeid"].rsplit("::", 1)[-1], first.get("cause") or "(no known signature)",
                     first.get("fix") or "", message])  # fmt: skip
    return rows


def device_markdown(s: Mapping[str, Any], trend: Mapping[str, Any] | None = None, level: str = "###") -> str:
    """One device's run: heading, end state, identity, tasks, failing checks, key figures."""
    run = s.get("run") or {}
    end = s.get("outcome") or {}
    mark = {"passed": "✅", "failed": "❌"}.get(str(run.get("verdict")), "⚪")
    parts = [
        f"{level} {mark} jetson-hil {cell(run.get('id'))}: {cell(run.get('verdict'))} on {cell(run.get('device'))}"
    ]
    title, headline = str(end.get("title") or ""), str(run.get("headline") or "")
    if headline:
        parts.append(f"**{cell(title)}**: {cell(headline.removeprefix(title + ': '))}" if title else cell(headline))
    if end.get("verdict") == "failed" and end.get("fix"):
        parts.append(f"Fix: {cell(end.get('fix'))}")
    ident = " · ".join(f"{k} {cell(v)}" for k, v in page.identity(s))
    if ident:
        parts.append(ident)
    tasks = [[t, v.get("verdict"), v.get("passed"), v.get("failed"), v.get("skipped")]
             for t, v in (s.get("tasks") or {}).items()]  # fmt: skip
    if tasks:
        parts.append(md_table(["task", "verdict", "passed", "failed", "skipped"], tasks))
    failing = _failing(s.get("tests") or [])
    if failing:
        parts.append("**Failing checks**\n\n" + md_table(["check", "likely cause", "fix", "message"], failing))
    figures = []
    for m in s.get("measurements") or []:
        row = [m["name"], page.number(m.get("value")), m.get("unit", ""), page.limits(m), m.get("outcome")]
        if trend:
            earlier = trend.get(m["name"]) or {}
            row += [page.compared(earlier.get("previous")), page.compared(earlier.get("baseline"))]
        figures.append(row)
    if figures:
        headers = ["figure", "value", "unit", "limits", "outcome"]
        if trend:
            headers += ["previous run (change)", "baseline (change)"]
        parts.append("**Key figures**\n\n" + md_table(headers, figures))
    return "\n\n".join(parts) + "\n"


def markdown(
    s: Mapping[str, Any],
    devices: Mapping[str, Mapping[str, Any]] | None = None,
    trends: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A device run's Markdown, or a fleet's: its table (device, verdict, tasks, failing checks), then each
    device's part (`devices`: name -> that device's summary)."""
    trends = trends or {}
    if s.get("kind") != "fleet":
        return device_markdown(s, next(iter(trends.values()), None))
    run = s.get("run") or {}
    tasks = s.get("tasks") or []
    rows = [
        [r["device"], r["verdict"], *(r["tasks"].get(t, "not run") for t in tasks),
         "; ".join(f"{f['test']}: {f['message'][:120]}" for f in r["failed"])]
        for r in s.get("fleet", [])
    ]  # fmt: skip
    parts = [
        f"### jetson-hil fleet {cell(run.get('id'))}: {cell(run.get('verdict'))}",
        md_table(["device", "verdict", *tasks, "failing checks"], rows),
    ]
    parts += [device_markdown(d, trends.get(name), level="####") for name, d in (devices or {}).items()]
    return "\n\n".join(parts) + "\n"


def append(path: str | Path, text: str) -> None:
    """Appends to the step summary file (GitHub concatenates what every step appends)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
