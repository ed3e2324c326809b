"""The trend page (``reports/trend.html``): each figure of a device over its last N runs, one small chart per
figure with its limits drawn, so "the rate fell 20 % since Tuesday" is one look.

Inline SVG and CSS only: no script, no network, no library, so the page opens offline and from an artefact.
Its size is bounded by N runs times the figures, whatever the reports root holds.

>>> svg = chart("rate_hz", {"unit": "Hz", "points": [("r1", 5.0), ("r2", 4.0)], "low": 2.0, "high": None})
>>> svg.startswith("<svg") and "limit &gt;= 2.00" in svg and svg.count("<circle") == 2
True
>>> "now 4.00 Hz, -20.0 % vs the previous" in svg
True
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jetson_hil.measure import format_value
from jetson_hil.report import history

WIDTH, HEIGHT = 600, 170
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 40, 34
PAGE_NAME = "trend.html"
STYLE = """
body{font-family:Helvetica,Arial,sans-serif;font-size:13px;margin:16px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:24px}
.charts{display:flex;flex-wrap:wrap;gap:10px}
.chart{border:1px solid #ccc;background:#fff}
table.runs{border-collapse:collapse;margin:6px 0} table.runs td,table.runs th{border:1px solid #ccc;padding:2px 6px}
tr.bad td{background:#f8d7da}
.note{color:#555}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _limit_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"limits {format_value(low)} .. {format_value(high)}"
    if low is not None:
        return f"limit >= {format_value(low)}"
    return f"limit <= {format_value(high)}" if high is not None else "no limits"


def _change(value: float, reference: float) -> str:
    return f"{(value - reference) / reference * 100.0:+.1f} %" if reference else f"{value - reference:+.3g}"


def _latest_text(points: Sequence[tuple[str, float]], unit: str) -> str:
    """'now 4.00 Hz, -20.0 % vs the previous, -20.0 % vs the oldest' (the oldest of the runs shown)."""
    last = points[-1][1]
    text = f"now {format_value(last)}{' ' + unit if unit else ''}"
    if len(points) > 1:
        text += f", {_change(last, points[-2][1])} vs the previous"
    if len(points) > 2:
        text += f", {_change(last, points[0][1])} vs the oldest"
    return text


def chart(name: str, entry: Mapping[str, Any]) -> str:
    """One figure over the runs as an SVG: its values joined oldest to newest, a point per run (hover: run id
    and value), the limits as dashed red lines, a point outside them red."""
    points: Sequence[tuple[str, float]] = entry.get("points") or []
    low, high, unit = entry.get("low"), entry.get("high"), entry.get("unit") or ""
    values = [v for _, v in points] + [x for x in (low, high) if x is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (hi - v) / (hi - lo)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_e(name)}">',
        f'<text x="{LEFT}" y="15" font-size="12" font-weight="bold">{_e(name)}'
        f"{f' ({_e(unit)})' if unit else ''}</text>",
        f'<text x="{LEFT}" y="30" font-size="10">{_e(_latest_text(points, unit))}'
        f'<tspan fill="#b00"> · {_e(_limit_text(low, high))}</tspan></text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
    ]
    for v in sorted({lo + pad, hi - pad}):
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{_e(format_value(v))}</text>'
        )
    for limit in (low, high):
        if limit is not None:
            parts.append(
                f'<line class="limit" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
                'stroke="#c00" stroke-dasharray="5,3"/>'
            )
    coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    for i, (run_id, v) in enumerate(points):
        outside = (low is not None and v < low) or (high is not None and v > high)
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{"#c00" if outside else "#1f77b4"}">'
            f"<title>{_e(run_id)}: {_e(format_value(v))} {_e(unit)}</title></circle>"
        )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 18}" font-size="10">{_e(first)}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT - 18}" font-size="10" text-anchor="end">{_e(last)}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" font-size="10" text-anchor="middle">'
        f"{len(points)} runs, oldest to newest</text></svg>"
    )
    return "".join(parts)


def device_section(device: str, kept: Sequence[history.Run]) -> str:
    """One device's block: its runs (id, start, verdict) and a chart per figure."""
    rows = "".join(
        f'<tr class="{"bad" if r.verdict == "failed" else ""}"><td>{_e(r.id)}</td><td>{_e(r.started)}</td>'
        f"<td>{_e(r.verdict)}</td></tr>"
        for r in reversed(kept)
    )
    charts = "".join(chart(name, entry) for name, entry in history.series(kept).items())
    return (
        f'<section id="trend-{_e(device)}"><h2>Device {_e(device)}: last {len(kept)} runs</h2>'
        f'<div class="charts">{charts or "<p class=note>No figures were measured in these runs.</p>"}</div>'
        f'<details><summary>Runs, newest first</summary><table class="runs"><tr><th>run</th><th>started</th>'
        f"<th>verdict</th></tr>{rows}</table></details></section>"
    )


def page(root: Path, limit: int = history.DEFAULT_RUNS, only: Sequence[str] = ()) -> str:
    """The trend page of every device with runs under `root` (or those named in `only`)."""
    names = [d for d in history.devices(root) if not only or d in only]
    body = "".join(device_section(d, history.runs(root, d, limit)) for d in names)
    if not body:
        body = f"<p class=note>No run summaries under {_e(root)}{' for ' + _e(', '.join(only)) if only else ''}.</p>"
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>jetson-hil trend</title>'
        f"<style>{STYLE}</style></head><body><h1>jetson-hil trend</h1>"
        f'<p class="note">Each figure over the last {limit} runs per device under {_e(root)}, limits as dashed red '
        f"lines, a point outside them red (hover a point for its run). Written {made}.</p>{body}</body></html>\n"
    )


def write(root: Path, limit: int = history.DEFAULT_RUNS, only: Sequence[str] = (), out: Path | None = None) -> Path:
    """Writes the trend page (default ``<root>/trend.html``, replaced atomically); returns its path."""
    target = Path(out) if out else Path(root) / PAGE_NAME
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(page(Path(root), limit, only), encoding="utf-8")
    tmp.replace(target)
    return target
