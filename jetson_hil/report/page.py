"""The report page's own sections, from summary.json alone: what pytest-html shows above its test table in a run,
and what ``jetson-hil report merge`` writes as a page of its own from several runs' summaries. One renderer for
both, so a merged fleet page reads the same as one controller run's.

Sections: the run (verdict, end state, the device's identity), verdict per task, failures (diagnosis first),
runbook path, measurements (with the previous run and the baseline beside each value when earlier runs are kept:
jetson_hil.report.history), plots, device facts, services, env. A section with nothing to show is left out;
a failing row is coloured.

>>> table(["task", "verdict"], [["task1", "passed"], ["task3", "failed"]], bad=lambda r: r[1] == "failed").count(BAD)
1
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jetson_hil.measure import format_value
from jetson_hil.report import diagnoses

PAGE_ORDER = ("run", "tasks", "failures", "plan", "measurements", "plots", "device", "services", "env")
TASK_TITLES = {
    "task1": "GPU diagnostics",
    "task2": "CUDA inside the running container",
    "task3": "GPU embeddings (Plan A success)",
    "task4": "container aligned with JetPack (Plan A failure)",
    "task5": "TensorRT fallback (Plan B)",
    "task6": "success validation",
}
BAD = 'class="jetson-hil-bad" style="background:#f8d7da"'
FAILING = ("failed", "fail", "error")
AGENT_SERVICE = "vl_jepa"


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def flat(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    cls: str = "",
    bad: Callable[[Sequence[Any]], bool] | None = None,
) -> str:
    """An HTML table of escaped cells; a row `bad` says is failing gets a red background."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        ("<tr " + BAD + ">" if bad is not None and bad(r) else "<tr>")
        + "".join(f"<td>{e(c)}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f'<table class="jetson-hil {cls}" border="1" cellpadding="3"><tr>{head}</tr>{body}</table>'


def number(value: Any) -> str:
    return format_value(value) if isinstance(value, (int, float)) else flat(value)


def limits(m: Mapping[str, Any]) -> str:
    low = number(m["low"]) if m.get("low") is not None else None
    high = number(m["high"]) if m.get("high") is not None else None
    if low is not None and high is not None:
        return f"{low} .. {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}" if high is not None else ""


def compared(row: Mapping[str, Any] | None) -> str:
    """'4.80 (-0.20, -4.0 %)': an earlier value and the change to this run's; '' without one."""
    if not row:
        return ""
    percent = f", {row['percent']:+.1f} %" if row.get("percent") is not None else ""
    return f"{number(row['value'])} ({row['delta']:+.3g}{percent})"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("key") or "")
    return "" if value is None else str(value)


def identity(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The device's identity for the page's top: module, L4T, JetPack, the agent's image, the suite's commit and
    the agents' project commit (each only when known)."""
    device = s.get("device") or {}
    run = s.get("run") or {}
    containers = device.get("containers") if isinstance(device.get("containers"), list) else []
    agent = next((c for c in containers if isinstance(c, dict) and c.get("service") == AGENT_SERVICE), None)
    pairs = [
        ("device", run.get("device")),
        ("module", _shown(device.get("module"))),
        ("L4T", device.get("l4t")),
        ("JetPack", device.get("jetpack")),
        ("agent image", (agent or {}).get("image")),
        ("suite commit", run.get("suite_commit")),
        ("agents' commit", device.get("project_commit")),
    ]
    return [(k, str(v)) for k, v in pairs if v and not str(v).startswith("unavailable")]


def _run_block(s: Mapping[str, Any]) -> str:
    run = s.get("run", {})
    end = s.get("outcome") or {}
    notes = "".join(f'<p class="jetson-hil-note"><b>Note:</b> {e(n)}</p>' for n in end.get("notes", []))
    where = f" (Task {e(end['stops_at_task'])})" if end.get("stops_at_task") else ""
    stops = f"<p>Fix{where}: {e(end.get('fix'))}</p>" if end.get("verdict") == "failed" and end.get("fix") else ""
    ident = " · ".join(f"<b>{e(k)}</b> {e(v)}" for k, v in identity(s))
    title, headline = str(end.get("title") or ""), str(run.get("headline") or "")
    return (
        f'<h2 id="jetson-hil-run">Run {e(run.get("id"))}: {e(run.get("verdict"))}</h2>'
        + (f'<p class="jetson-hil-identity">{ident}</p>' if ident else "")
        + f'<p class="jetson-hil-headline"><b>{e(title)}</b>: {e(headline.removeprefix(title + ": "))}</p>'
        + f"{stops}{notes}"
        f"<p>Device profile {e(run.get('device'))}; report directory {e(run.get('report_dir'))}"
        + (f"; {e(run['design_doc'])}" if run.get("design_doc") else "")
        + "</p>"
    )


def _device_blocks(s: Mapping[str, Any]) -> dict[str, str]:
    device = dict(s.get("device") or {})
    env = device.pop("env", None)
    containers = device.pop("containers", None)
    out = {
        "device": '<h2 id="jetson-hil-device">Device</h2>'
        + table(["fact", "value"], [[k, flat(v)] for k, v in device.items()])
    }
    if isinstance(containers, list) and containers:
        rows = [
            [c.get("service") or "", c["name"], c["state"], c.get("image"), c.get("image_id"), c.get("runtime")]
            for c in containers
        ]
        out["services"] = '<h3 id="jetson-hil-services">Services and images</h3>' + table(
            ["service", "container", "state", "image", "image id (digest)", "runtime"],
            rows,
            bad=lambda r: r[2] not in ("running", ""),
        )
    if isinstance(env, dict) and env:
        out["env"] = '<h3 id="jetson-hil-env">Env (secrets redacted)</h3>' + table(
            ["key", "value"], sorted(map(list, env.items()))
        )
    elif env and not isinstance(env, dict):
        out["env"] = f'<h3 id="jetson-hil-env">Env</h3><p>{e(env)}</p>'
    return out


def _plan_block(s: Mapping[str, Any]) -> str:
    plan = s.get("plan")
    if not plan:
        return '<h2 id="jetson-hil-plan">Runbook path: not decided in this run</h2>'
    evidence = [[k, flat(v)] for k, v in (plan.get("evidence") or {}).items()]
    return (
        f'<h2 id="jetson-hil-plan">Runbook path: {e(plan.get("path"))} {e(plan.get("title"))}</h2>'
        f"<p>{e(plan.get('reason'))} (decided by {e(plan.get('decided_by'))}; "
        f"next: {e(plan.get('next_task'))})</p>" + table(["evidence", "value"], evidence)
    )


def _measurements_block(s: Mapping[str, Any], trend: Mapping[str, Any] | None) -> str:
    measured = s.get("measurements") or []
    if not measured:
        return ""
    with_history = bool(trend)
    headers = ["name", "value", "unit", "limits", "outcome"]
    if with_history:
        headers += ["previous run (change)", "baseline (change)"]
    rows = []
    for m in measured:
        row = [m["name"], number(m.get("value")), m.get("unit", ""), limits(m), m.get("outcome")]
        if with_history:
            earlier = trend.get(m["name"]) or {}
            row += [compared(earlier.get("previous")), compared(earlier.get("baseline"))]
        rows.append([*row, m.get("nodeid", "").split("::")[-1]])
    note = ""
    if with_history:
        sources = sorted({r["baseline"]["source"] for r in trend.values() if r.get("baseline")})
        note = f"<p>Baseline: {e(', '.join(sources) or 'none kept')}; trend page: trend.html beside the runs.</p>"
    return (
        '<h2 id="jetson-hil-measurements">Measurements</h2>'
        + note
        + table([*headers, "test"], rows, bad=lambda r: r[4] in FAILING)
    )


def _plots_block(s: Mapping[str, Any], pngs: Mapping[str, bytes]) -> str:
    lat = s.get("latency_ms") or {}
    if not lat.get("count") and not pngs:
        return ""
    figs = '<h2 id="jetson-hil-plots">Telemetry and embedding latency</h2>'
    if lat.get("count"):
        figs += (
            f"<p>Embedding latency over {lat['count']} messages: p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
            f"max {lat['max']} ms</p>"
        )
    for name, png in pngs.items():
        figs += f'<img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/><br/>'
    return figs


def sections(s: Mapping[str, Any], pngs: Mapping[str, bytes], trend: Mapping[str, Any] | None = None) -> list[str]:
    """The HTML blocks above the test table, each with an id the selftests look for, in the order an operator
    reads them (PAGE_ORDER): verdicts and failures first, device facts last. `trend`: history.compare()."""
    rows = [
        [t, TASK_TITLES.get(t, ""), v["verdict"], v["passed"], v["failed"], v.get("xfailed", 0), v["skipped"]]
        for t, v in s.get("tasks", {}).items()
    ]
    blocks = {
        "run": _run_block(s),
        **_device_blocks(s),
        "plan": _plan_block(s),
        "tasks": '<h2 id="jetson-hil-tasks">Verdict per task</h2>'
        + table(
            ["task", "runbook", "verdict", "passed", "failed", "expected failures", "skipped"],
            rows,
            bad=lambda r: r[2] in FAILING,
        ),
        "measurements": _measurements_block(s, trend),
        "failures": diagnoses.failures_html(s.get("tests", [])),
        "plots": _plots_block(s, pngs),
    }
    return [blocks[key] for key in PAGE_ORDER if blocks.get(key)]


def fleet_sections(
    fleet_summary: Mapping[str, Any],
    devices: Mapping[str, Mapping[str, Any]],
    pngs: Mapping[str, Mapping[str, bytes]],
    trends: Mapping[str, Mapping[str, Any]] | None = None,
    links: Mapping[str, str] | None = None,
) -> list[str]:
    """A fleet's page: the run, the fleet table (device x task verdicts, failing checks), then each device's
    sections (`sections`) under its own heading, their ids suffixed with the device name. `links`: device ->
    its own report page (a merged fleet, whose test tables stay in each job's page)."""
    run = fleet_summary.get("run", {})
    tasks = fleet_summary.get("tasks", list(TASK_TITLES))
    out = [
        f'<h2 id="jetson-hil-run">Run {e(run.get("id"))}: {e(run.get("verdict"))}</h2>'
        f"<p>Fleet of {len(fleet_summary.get('fleet', []))} devices; report directory {e(run.get('report_dir'))}"
        "</p>"
    ]
    rows = []
    for row in fleet_summary.get("fleet", []):
        failed = "; ".join(f"{f['test']}: {f['message']}" for f in row["failed"]) or ""
        rows.append([row["device"], row["verdict"], *(row["tasks"].get(t, "not run") for t in tasks), failed])
    out.append(
        '<h2 id="jetson-hil-fleet">Fleet: verdict per device and task</h2>'
        + table(["device", "verdict", *tasks, "failing checks"], rows, cls="fleet", bad=lambda r: r[1] in FAILING)
    )
    for name, device_summary in devices.items():
        blocks = sections(device_summary, pngs.get(name, {}), (trends or {}).get(name))
        body = "".join(blocks).replace('id="jetson-hil-', f'id="jetson-hil-{name}-')
        verdict = device_summary.get("run", {}).get("verdict")
        link = (links or {}).get(name)
        more = f'<p><a href="{e(link)}">{e(name)}: every check (its own report page)</a></p>' if link else ""
        out.append(
            f'<section id="jetson-hil-device-{e(name)}"><h1>Device {e(name)}: {e(verdict)}</h1>{more}{body}</section>'
        )
    return out


def standalone(title: str, blocks: Sequence[str]) -> str:
    """A self-contained page of `blocks` (no script, no external asset)."""
    style = (
        "body{font-family:Helvetica,Arial,sans-serif;font-size:13px;margin:16px;color:#222}"
        "table.jetson-hil{border-collapse:collapse;margin:6px 0} h1{font-size:20px} h2{font-size:16px}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{style}</style></head>'
        f"<body><h1>{e(title)}</h1>{''.join(blocks)}</body></html>\n"
    )
